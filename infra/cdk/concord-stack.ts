/**
 * The cloud stack, generated from the topology: the same tables, queues, functions,
 * triggers and schedule the local runtime provisions, as AWS resources. It deploys
 * unchanged to AWS and to LocalStack.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Tags } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import * as logs from "aws-cdk-lib/aws-logs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as sns from "aws-cdk-lib/aws-sns";
import * as sqs from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { CLOUDWATCH_NAMESPACE, METRICS } from "../../src/metrics/catalog.ts";
import { type FunctionSpec, physicalName, type TableSpec, type Topology } from "../topology.ts";
import { bundleDir, HANDLER } from "./bundles.ts";
import { API_KEYS_SECRET_VARIABLE, HTTP_PARTICIPANT_SECRET_VARIABLE } from "./function-environment.ts";
import { TABLE_ACTIONS, TABLE_READ_ACTIONS } from "./permissions.ts";

export interface ConcordStackProps extends StackProps {
  readonly topology: Topology;
  /** Environment of every function (see functionEnvironment): names and timing that match the topology. */
  readonly environment: Readonly<Record<string, string>>;
  /** Folder of the built bundles (`npm run build` writes dist/). */
  readonly bundlesDir: string;
  /** How long function logs are kept; default one month. */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Keep the tables (and their data) when the stack is deleted, and protect them
   * from deletion. Default false: `destroy` removes everything.
   */
  readonly retainData?: boolean;
}

/** Lambda's guidance for SQS triggers: a visibility timeout of at least 6x the function timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;
/** Dead letters are kept as long as SQS allows, so an operator has time to look at them. */
export const DEAD_LETTER_RETENTION = Duration.days(14);

const LIMITS = { functionName: 64, queueName: 80, tableName: 255 };

export class TopologyError extends Error {
  override name = "TopologyError";
}

/** A CloudFormation stack name for a prefix: letters, digits and hyphens, starting with a letter. */
export const stackNameFor = (prefix: string): string => {
  const name = prefix.replaceAll("_", "-");
  return /^[A-Za-z]/.test(name) ? name : `concord-${name}`;
};

/** `participant-bank-1` → `ParticipantBank1`, for construct ids. */
const pascal = (name: string): string =>
  name
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part.length > 0)
    .map((part) => part[0]?.toUpperCase() + part.slice(1))
    .join("");

export class ConcordStack extends Stack {
  readonly tables = new Map<string, dynamodb.Table>();
  readonly queues = new Map<string, sqs.Queue>();
  readonly functions = new Map<string, lambda.Function>();
  readonly apiKeys?: secretsmanager.Secret;
  /** What the dispatcher signs its calls to HTTP participants with; services check it (docs/participants.md). */
  readonly httpParticipantSecret?: secretsmanager.Secret;
  /** Every alarm of the stack notifies this topic; subscribe to it (docs/deploy.md). */
  readonly alarms: sns.Topic;

  constructor(scope: Construct, id: string, props: ConcordStackProps) {
    super(scope, id, props);
    const { topology } = props;
    checkTopology(topology);
    const name = (logical: string) => physicalName(topology, logical);
    Tags.of(this).add("app", "concord");
    Tags.of(this).add("concord:prefix", topology.prefix);

    for (const spec of Object.values(topology.tables)) {
      this.tables.set(spec.name, this.table(spec, name(spec.name), props.retainData ?? false));
    }

    for (const spec of topology.queues) {
      const deadLetter = new sqs.Queue(this, `${pascal(spec.name)}DeadLetterQueue`, {
        queueName: name(spec.deadLetter.name),
        retentionPeriod: DEAD_LETTER_RETENTION,
        encryption: sqs.QueueEncryption.SQS_MANAGED,
      });
      const queue = new sqs.Queue(this, `${pascal(spec.name)}Queue`, {
        queueName: name(spec.name),
        visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
        deadLetterQueue: { queue: deadLetter, maxReceiveCount: spec.deadLetter.maxReceiveCount },
        encryption: sqs.QueueEncryption.SQS_MANAGED,
      });
      this.queues.set(spec.name, queue);
      this.queues.set(spec.deadLetter.name, deadLetter);
    }

    if (topology.functions.some((f) => f.http)) {
      // Read by the API function at cold start (src/lambda.ts). The generated admin key
      // works on every route; add client keys as "apiKeys" (comma-separated).
      this.apiKeys = new secretsmanager.Secret(this, "ApiKeys", {
        description: `concord ${topology.prefix}: API keys, {"adminKeys":"k1,k2","apiKeys":"k3"}`,
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ apiKeys: "" }),
          generateStringKey: "adminKeys",
          passwordLength: 40,
          // Keys are comma-separated lists: no punctuation, no spaces.
          excludePunctuation: true,
          includeSpace: false,
        },
        removalPolicy: RemovalPolicy.DESTROY,
      });
      new CfnOutput(this, "ApiKeysSecretArn", {
        value: this.apiKeys.secretArn,
        description: "Secrets Manager secret with the API keys (adminKeys, apiKeys)",
      });
    }

    if (topology.functions.some((f) => f.role === "dispatcher")) {
      // Read by the dispatcher function (src/http-participants/signing-secret.ts), cached for at most
      // 5 minutes; service teams get its value from here to check `Concord-Signature`.
      this.httpParticipantSecret = new secretsmanager.Secret(this, "HttpParticipantSecret", {
        description: `concord ${topology.prefix}: the secret calls to HTTP participants are signed with (HMAC-SHA256)`,
        generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
        removalPolicy: RemovalPolicy.DESTROY,
      });
      new CfnOutput(this, "HttpParticipantSecretArn", {
        value: this.httpParticipantSecret.secretArn,
        description: "Secrets Manager secret the dispatcher signs calls to HTTP participants with",
      });
    }

    for (const spec of topology.functions) {
      this.functions.set(spec.name, this.function(spec, name(spec.name), props));
    }

    this.alarms = this.alarmTopic(topology);

    new CfnOutput(this, "Prefix", { value: topology.prefix, description: "CONCORD_PREFIX of this stack" });
  }

  /**
   * What an operator must hear about, each alarm firing on the first minute it
   * is above zero: a message in a dead-letter queue, a decision or compensation
   * still unanswered after the stalled threshold of re-sends (the sweeper's
   * embedded metrics, see src/metrics/catalog.ts), a function's errors.
   */
  private alarmTopic(topology: Topology): sns.Topic {
    const topic = new sns.Topic(this, "Alarms", {
      topicName: physicalName(topology, "alarms"),
      displayName: `concord ${topology.prefix} alarms`,
    });
    const action = new SnsAction(topic);
    const above0 = (id: string, metric: cloudwatch.IMetric, description: string) =>
      new cloudwatch.Alarm(this, id, {
        metric,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // No data is no trouble: an idle stack sends no metric at all.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      }).addAlarmAction(action);
    const minute = Duration.minutes(1);

    for (const spec of topology.queues) {
      const deadLetter = this.queues.get(spec.deadLetter.name);
      if (!deadLetter) continue;
      above0(
        `${pascal(spec.deadLetter.name)}Alarm`,
        deadLetter.metricApproximateNumberOfMessagesVisible({ period: minute, statistic: "Maximum" }),
        `messages in ${physicalName(topology, spec.deadLetter.name)}: see docs/deploy.md, dead letters`,
      );
    }
    for (const [{ cloudWatch: metricName }, what] of [
      [
        METRICS.concord_decision_stalls_total,
        "a decision is unacknowledged after the stalled threshold of re-sends",
      ],
      [
        METRICS.concord_compensation_stalls_total,
        "a compensation is not done after the stalled threshold of re-sends",
      ],
    ] as const) {
      above0(
        `${metricName}Alarm`,
        new cloudwatch.Metric({
          namespace: CLOUDWATCH_NAMESPACE,
          metricName,
          dimensionsMap: { service: topology.prefix },
          statistic: "Sum",
          period: minute,
        }),
        `${what} (concord ${topology.prefix}); the sweeper's logs name the transaction`,
      );
    }
    for (const [name, fn] of this.functions) {
      above0(
        `${pascal(name)}ErrorsAlarm`,
        fn.metricErrors({ period: minute, statistic: "Sum" }),
        `${physicalName(topology, name)} failed invocations`,
      );
    }
    new CfnOutput(this, "AlarmTopicArn", {
      value: topic.topicArn,
      description: "SNS topic of every alarm: subscribe an email or a chat hook to it",
    });
    return topic;
  }

  private table(spec: TableSpec, tableName: string, retain: boolean): dynamodb.Table {
    const table = new dynamodb.Table(this, `${pascal(spec.name)}Table`, {
      tableName,
      partitionKey: { name: spec.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      ...(spec.ttlAttribute ? { timeToLiveAttribute: spec.ttlAttribute } : {}),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      deletionProtection: retain,
    });
    const type = (t: "S" | "N") =>
      t === "S" ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER;
    for (const index of spec.indexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey.name, type: type(index.partitionKey.type) },
        sortKey: { name: index.sortKey.name, type: type(index.sortKey.type) },
        projectionType:
          index.projection === "KEYS_ONLY" ? dynamodb.ProjectionType.KEYS_ONLY : dynamodb.ProjectionType.ALL,
      });
    }
    return table;
  }

  private function(spec: FunctionSpec, functionName: string, props: ConcordStackProps): lambda.Function {
    const id = pascal(spec.name);
    // Created before the function (and named as Lambda names it), so that the
    // retention applies from the first invocation and the role can be scoped to it.
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // One role per function with only what it needs: no managed policy, no wildcard.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `concord ${functionName}`,
    });
    logGroup.grantWrite(role);

    const apiKeys = spec.http ? this.apiKeys : undefined;
    const signing = spec.role === "dispatcher" ? this.httpParticipantSecret : undefined;
    const fn = new lambda.Function(this, `${id}Function`, {
      functionName,
      description: `concord ${spec.role}${spec.environment.CONCORD_PARTICIPANT ? ` ${spec.environment.CONCORD_PARTICIPANT}` : ""}`,
      runtime: lambda.Runtime.NODEJS_22_X,
      // Graviton: the same bundle (plain JavaScript), about 20% cheaper per GB-second.
      architecture: lambda.Architecture.ARM_64,
      handler: HANDLER,
      code: lambda.Code.fromAsset(bundleDir(props.bundlesDir, spec.entry)),
      timeout: Duration.seconds(spec.timeoutSeconds),
      memorySize: spec.memoryMb,
      role,
      environment: {
        ...props.environment,
        ...spec.environment,
        ...(apiKeys ? { [API_KEYS_SECRET_VARIABLE]: apiKeys.secretArn } : {}),
        ...(signing ? { [HTTP_PARTICIPANT_SECRET_VARIABLE]: signing.secretArn } : {}),
        NODE_OPTIONS: "--enable-source-maps",
      },
    });
    fn.node.addDependency(logGroup);

    for (const table of spec.access.tables) this.lookup(this.tables, table, spec).grant(fn, ...TABLE_ACTIONS);
    for (const table of spec.access.reads ?? [])
      this.lookup(this.tables, table, spec).grant(fn, ...TABLE_READ_ACTIONS);
    for (const queue of spec.access.sendsTo) this.lookup(this.queues, queue, spec).grantSendMessages(fn);
    apiKeys?.grantRead(fn);
    signing?.grantRead(fn);

    if (spec.trigger) {
      const { trigger } = spec;
      fn.addEventSource(
        new SqsEventSource(this.lookup(this.queues, trigger.queue, spec), {
          batchSize: trigger.batchSize,
          reportBatchItemFailures: trigger.reportBatchItemFailures,
          ...(trigger.maxBatchingWindowMs > 0
            ? { maxBatchingWindow: Duration.millis(trigger.maxBatchingWindowMs) }
            : {}),
        }),
      );
    }

    if (spec.schedule) {
      // An EventBridge rule, not EventBridge Scheduler: rules also fire on LocalStack.
      new events.Rule(this, `${id}Schedule`, {
        description: `runs concord ${functionName} every ${spec.schedule.rateSeconds} s`,
        schedule: events.Schedule.rate(Duration.seconds(spec.schedule.rateSeconds)),
        targets: [new targets.LambdaFunction(fn)],
      });
    }

    if (spec.http) {
      // API Gateway v2 is not in the free LocalStack; a function URL is, and costs nothing on AWS.
      // Auth is the API's own (Bearer API keys), so the URL itself is public.
      const url = fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
      new CfnOutput(this, "FunctionUrl", { value: url.url, description: "the concord HTTP API" });
    }
    return fn;
  }

  private lookup<T>(map: ReadonlyMap<string, T>, name: string, spec: FunctionSpec): T {
    const found = map.get(name);
    if (!found) throw new TopologyError(`function ${spec.name} refers to ${name}, which the topology lacks`);
    return found;
  }
}

/** What AWS would refuse at deploy time, refused at synth time with the reason. */
export function checkTopology(topology: Topology): void {
  const name = (logical: string) => physicalName(topology, logical);
  const tooLong = (kind: keyof typeof LIMITS, value: string) => {
    if (value.length > LIMITS[kind])
      throw new TopologyError(
        `${kind} "${value}" is longer than ${LIMITS[kind]}; use a shorter CONCORD_PREFIX`,
      );
  };
  for (const table of Object.values(topology.tables)) tooLong("tableName", name(table.name));
  for (const queue of topology.queues) {
    tooLong("queueName", name(queue.name));
    tooLong("queueName", name(queue.deadLetter.name));
  }
  for (const fn of topology.functions) {
    tooLong("functionName", name(fn.name));
    if (fn.trigger) {
      const { trigger } = fn;
      const queue = topology.queues.find((q) => q.name === trigger.queue);
      if (!queue)
        throw new TopologyError(`function ${fn.name} is triggered by unknown queue ${trigger.queue}`);
      if (queue.visibilityTimeoutSeconds < VISIBILITY_TIMEOUT_FACTOR * fn.timeoutSeconds)
        throw new TopologyError(
          `queue ${queue.name}: visibility timeout ${queue.visibilityTimeoutSeconds} s is under ${VISIBILITY_TIMEOUT_FACTOR}x the ${fn.timeoutSeconds} s timeout of ${fn.name}`,
        );
    }
    const rate = fn.schedule?.rateSeconds;
    if (rate !== undefined && (rate < 60 || rate % 60 !== 0))
      throw new TopologyError(
        `the ${fn.name} schedule is every ${rate} s; EventBridge rules run in whole minutes (CONCORD_SWEEP_INTERVAL_SECONDS=60, 120, ...)`,
      );
  }
}
