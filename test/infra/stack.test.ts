/**
 * The CloudFormation template generated from the topology, checked offline with
 * the CDK assertions library: what a deployment to AWS or LocalStack would create.
 */
import { Match } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import {
  checkTopology,
  stackNameFor,
  TopologyError,
  VISIBILITY_TIMEOUT_FACTOR,
} from "../../infra/cdk/concord-stack.ts";
import {
  API_KEYS_SECRET_VARIABLE,
  HTTP_PARTICIPANT_SECRET_VARIABLE,
} from "../../infra/cdk/function-environment.ts";
import { TABLE_ACTIONS, TABLE_READ_ACTIONS } from "../../infra/cdk/permissions.ts";
import {
  buildTopology,
  type FunctionSpec,
  PARTICIPANT_ENTRY,
  physicalName,
  type Topology,
} from "../../infra/topology.ts";
import { loadConfig } from "../../src/config.ts";
import { CLOUDWATCH_NAMESPACE, METRICS } from "../../src/metrics/catalog.ts";
import { referencedId, type Synthesized, synthesize } from "./stack-fixture.ts";

const PREFIX = "acme";
let s: Synthesized;

beforeAll(() => {
  // Settings a deployer might have in their shell: the prefix, two banks, a timing
  // override, and API keys that must not reach the template.
  s = synthesize({
    CONCORD_PREFIX: PREFIX,
    CONCORD_BANK_SERVERS: "bank-1,bank-2",
    CONCORD_PREPARE_RETRY_MS: "2500",
    CONCORD_ADMIN_KEYS: "do-not-deploy-me",
  });
});

const name = (logical: string) => physicalName({ prefix: PREFIX }, logical);
const functions = () => s.config.topology.functions;
const functionId = (fn: FunctionSpec) => s.idWhere("AWS::Lambda::Function", "FunctionName", name(fn.name));
const queueId = (logical: string) => s.idWhere("AWS::SQS::Queue", "QueueName", name(logical));
const tableId = (logical: string) => s.idWhere("AWS::DynamoDB::Table", "TableName", name(logical));

/** Every logical id a value refers to (Ref, Fn::GetAtt), at any depth. */
function idsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(idsIn);
  if (typeof value !== "object" || value === null) return [];
  const direct = referencedId(value);
  return direct ? [direct] : Object.values(value).flatMap(idsIn);
}

interface Statement {
  Action: string | string[];
  Effect: string;
  Resource: unknown;
}

/** The statements of every policy attached to a function's role. */
function statementsOf(fn: FunctionSpec): Statement[] {
  const roleId = referencedId(s.props(functionId(fn)).Role);
  return s
    .ids("AWS::IAM::Policy")
    .filter((id) => idsIn(s.props(id).Roles).includes(roleId ?? ""))
    .flatMap((id) => (s.props(id).PolicyDocument as { Statement: Statement[] }).Statement);
}

/** The resources (logical ids) a function may apply `action` to. */
/** The one generated secret whose template makes it what it is. */
function secretWhere(generated: (g: Record<string, unknown>) => boolean): string {
  const found = s
    .ids("AWS::SecretsManager::Secret")
    .filter((id) => generated((s.props(id).GenerateSecretString ?? {}) as Record<string, unknown>));
  expect(found).toHaveLength(1);
  return found[0] as string;
}
const apiKeysSecret = () => secretWhere((g) => g.GenerateStringKey === "adminKeys");
const signingSecret = () => secretWhere((g) => g.GenerateStringKey === undefined);

function grantedOn(fn: FunctionSpec, action: string): string[] {
  const ids = statementsOf(fn)
    .filter((st) => st.Effect === "Allow" && [st.Action].flat().includes(action))
    .flatMap((st) => idsIn(st.Resource));
  return [...new Set(ids)].sort();
}

describe("tables", () => {
  it("creates every table of the topology: on demand, TTL (where records expire), point-in-time recovery, its indexes", () => {
    const tables = Object.values(s.config.topology.tables);
    s.template.resourceCountIs("AWS::DynamoDB::Table", tables.length);
    for (const table of tables) {
      s.template.hasResourceProperties("AWS::DynamoDB::Table", {
        TableName: name(table.name),
        BillingMode: "PAY_PER_REQUEST",
        KeySchema: [{ AttributeName: table.partitionKey, KeyType: "HASH" }],
        TimeToLiveSpecification: table.ttlAttribute
          ? { AttributeName: table.ttlAttribute, Enabled: true }
          : Match.absent(),
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        ...(table.indexes.length > 0
          ? {
              GlobalSecondaryIndexes: Match.arrayWith(
                table.indexes.map((index) => ({
                  IndexName: index.name,
                  KeySchema: [
                    { AttributeName: index.partitionKey.name, KeyType: "HASH" },
                    { AttributeName: index.sortKey.name, KeyType: "RANGE" },
                  ],
                  Projection: { ProjectionType: index.projection ?? "ALL" },
                })),
              ),
            }
          : {}),
      });
    }
  });

  it("deletes tables with the stack by default (destroy means destroy)", () => {
    for (const id of s.ids("AWS::DynamoDB::Table")) expect(s.resources[id]?.DeletionPolicy).toBe("Delete");
  });
});

describe("queues", () => {
  it("gives every queue its dead-letter queue and redrive after the topology's receive count", () => {
    const specs = s.config.topology.queues;
    s.template.resourceCountIs("AWS::SQS::Queue", specs.length * 2);
    for (const spec of specs) {
      const props = s.props(queueId(spec.name));
      const dlq = queueId(spec.deadLetter.name);
      expect(props.RedrivePolicy).toEqual({
        deadLetterTargetArn: { "Fn::GetAtt": [dlq, "Arn"] },
        maxReceiveCount: spec.deadLetter.maxReceiveCount,
      });
      expect(props.VisibilityTimeout).toBe(spec.visibilityTimeoutSeconds);
      expect(s.props(dlq).MessageRetentionPeriod).toBe(14 * 86_400);
      expect(s.props(dlq).RedrivePolicy).toBeUndefined();
    }
  });

  it("keeps every triggered queue's visibility timeout at least 6x its function's timeout", () => {
    const mappings = s.ids("AWS::Lambda::EventSourceMapping");
    expect(mappings.length).toBeGreaterThan(0);
    for (const id of mappings) {
      const mapping = s.props(id);
      const fnTimeout = s.props(referencedId(mapping.FunctionName) ?? "").Timeout as number;
      const visibility = s.props(referencedId(mapping.EventSourceArn) ?? "").VisibilityTimeout as number;
      expect(visibility).toBeGreaterThanOrEqual(VISIBILITY_TIMEOUT_FACTOR * fnTimeout);
    }
  });
});

describe("functions", () => {
  it("runs each function of the topology on Node.js 22 from its own bundle, with its timeout and memory", () => {
    s.template.resourceCountIs("AWS::Lambda::Function", functions().length);
    for (const fn of functions()) {
      const props = s.props(functionId(fn));
      expect(props).toMatchObject({
        Runtime: "nodejs22.x",
        Handler: "index.handler",
        Timeout: fn.timeoutSeconds,
        MemorySize: fn.memoryMb,
      });
    }
  });

  it("sets an environment from which every function computes the stack's table and queue names", () => {
    for (const fn of functions()) {
      const variables = (s.props(functionId(fn)).Environment as { Variables: Record<string, unknown> })
        .Variables;
      const strings = Object.fromEntries(
        Object.entries(variables).filter((e): e is [string, string] => typeof e[1] === "string"),
      );
      expect(strings).toMatchObject(fn.environment);
      expect(strings.CONCORD_PREPARE_RETRY_MS).toBe("2500");
      const seen = loadConfig(strings).topology;
      for (const table of Object.values(seen.tables)) expect(() => tableId(table.name)).not.toThrow();
      for (const queue of seen.queues) {
        expect(() => queueId(queue.name)).not.toThrow();
        expect(() => queueId(queue.deadLetter.name)).not.toThrow();
      }
      expect(seen).toEqual(s.config.topology);
    }
  });

  it("runs every built-in participant from one entry and one bundle, each told which it is by CONCORD_PARTICIPANT", () => {
    const participants = functions().filter((fn) => fn.role === "participant");
    expect(new Set(participants.map((fn) => fn.entry))).toEqual(new Set([PARTICIPANT_ENTRY]));
    const names = [...s.config.bankServers, "inventory", "payment", "order", "shipping"];
    // Each twice: on its queue, and on the schedule (its in-doubt check).
    expect(participants.filter((fn) => fn.trigger).map((fn) => fn.environment.CONCORD_PARTICIPANT)).toEqual(
      names,
    );
    expect(participants.filter((fn) => fn.schedule).map((fn) => fn.environment.CONCORD_PARTICIPANT)).toEqual(
      names,
    );
    for (const fn of participants) {
      if (fn.trigger) expect(fn.trigger.queue).toBe(`participant-${fn.environment.CONCORD_PARTICIPANT}`);
      else expect(fn.schedule).toBeDefined();
    }
    // One asset: the same bundle behind every participant function.
    const code = new Set(participants.map((fn) => JSON.stringify(s.props(functionId(fn)).Code)));
    expect(code.size).toBe(1);
  });

  it("never puts API keys in a function's environment; the API reads them from a generated secret", () => {
    const all = JSON.stringify(s.template.toJSON());
    expect(all).not.toContain("do-not-deploy-me");
    expect(all).not.toContain("CONCORD_ADMIN_KEYS");
    const secret = apiKeysSecret();
    expect(s.props(secret).GenerateSecretString).toMatchObject({
      GenerateStringKey: "adminKeys",
      ExcludePunctuation: true,
    });
    for (const fn of functions()) {
      const variables = (s.props(functionId(fn)).Environment as { Variables: Record<string, unknown> })
        .Variables;
      if (fn.http) expect(variables[API_KEYS_SECRET_VARIABLE]).toEqual({ Ref: secret });
      else expect(variables[API_KEYS_SECRET_VARIABLE]).toBeUndefined();
    }
  });

  it("generates the secret calls to HTTP participants are signed with, and names it to the dispatcher alone", () => {
    const secret = signingSecret();
    expect(s.props(secret).GenerateSecretString).toMatchObject({
      PasswordLength: 64,
      ExcludePunctuation: true,
    });
    expect(JSON.stringify(s.template.toJSON())).not.toContain('CONCORD_HTTP_PARTICIPANT_SECRET"');
    for (const fn of functions()) {
      const variables = (s.props(functionId(fn)).Environment as { Variables: Record<string, unknown> })
        .Variables;
      if (fn.role === "dispatcher")
        expect(variables[HTTP_PARTICIPANT_SECRET_VARIABLE]).toEqual({ Ref: secret });
      else expect(variables[HTTP_PARTICIPANT_SECRET_VARIABLE], fn.name).toBeUndefined();
    }
    expect(s.template.findOutputs("HttpParticipantSecretArn")).not.toEqual({});
  });

  it("keeps each function's logs in its own log group, with a retention, created before the function", () => {
    s.template.resourceCountIs("AWS::Logs::LogGroup", functions().length);
    for (const fn of functions()) {
      const logGroup = s.idWhere("AWS::Logs::LogGroup", "LogGroupName", `/aws/lambda/${name(fn.name)}`);
      expect(s.props(logGroup).RetentionInDays).toBe(30);
      expect(s.resources[functionId(fn)]?.DependsOn).toContain(logGroup);
    }
  });
});

describe("least privilege", () => {
  it("grants each function exactly the tables and queues the topology says it uses", () => {
    for (const fn of functions()) {
      const tables = fn.access.tables.map(tableId);
      const read = (fn.access.reads ?? []).map(tableId);
      for (const action of TABLE_ACTIONS) {
        const reading = (TABLE_READ_ACTIONS as readonly string[]).includes(action);
        expect(grantedOn(fn, action), `${fn.name} ${action}`).toEqual(
          [...tables, ...(reading ? read : [])].sort(),
        );
      }
      expect(grantedOn(fn, "sqs:SendMessage"), fn.name).toEqual(fn.access.sendsTo.map(queueId).sort());
      expect(grantedOn(fn, "sqs:ReceiveMessage"), fn.name).toEqual(
        fn.trigger ? [queueId(fn.trigger.queue)] : [],
      );
      const logGroup = s.idWhere("AWS::Logs::LogGroup", "LogGroupName", `/aws/lambda/${name(fn.name)}`);
      expect(grantedOn(fn, "logs:PutLogEvents")).toEqual([logGroup]);
      // The API reads its keys, the dispatcher its signing secret; nobody reads the other's.
      expect(grantedOn(fn, "secretsmanager:GetSecretValue"), fn.name).toEqual(
        fn.http ? [apiKeysSecret()] : fn.role === "dispatcher" ? [signingSecret()] : [],
      );
    }
  });

  it("lets each e-commerce participant reach only its own table and the transactions table, and the API every participant's table", () => {
    const commerce = ["inventory", "payment", "order", "shipping"];
    const participantQueues = functions()
      .filter((f) => f.role === "participant" && f.trigger)
      .map((f) => queueId(f.name));
    for (const participant of commerce) {
      const fn = functions().find((f) => f.name === `participant-${participant}`) as FunctionSpec;
      expect(fn, participant).toBeDefined();
      // Direct votes: its answers are written on the transaction record, the decision sent from here.
      expect(grantedOn(fn, "dynamodb:UpdateItem")).toEqual(
        [tableId(participant), tableId("transactions")].sort(),
      );
      expect(grantedOn(fn, "sqs:SendMessage")).toEqual(
        [queueId("coordinator"), queueId("dispatcher"), ...participantQueues].sort(),
      );
    }
    const api = functions().find((f) => f.role === "api") as FunctionSpec;
    for (const table of ["bank", ...commerce])
      expect(grantedOn(api, "dynamodb:GetItem")).toContain(tableId(table));
  });

  it("lets the dispatcher read the participant registry, write only the transactions table, and send participant messages", () => {
    const fn = functions().find((f) => f.role === "dispatcher") as FunctionSpec;
    expect(grantedOn(fn, "dynamodb:GetItem")).toEqual(
      [tableId("participants"), tableId("transactions")].sort(),
    );
    // Direct votes: the answers it gets are written on the transaction record, the decision sent from here.
    for (const write of ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"])
      expect(grantedOn(fn, write), write).toEqual([tableId("transactions")]);
    const participantQueues = functions()
      .filter((f) => f.role === "participant" && f.trigger)
      .map((f) => queueId(f.name));
    expect(grantedOn(fn, "sqs:SendMessage")).toEqual(
      [queueId("coordinator"), queueId("dispatcher"), ...participantQueues].sort(),
    );
    expect(grantedOn(fn, "sqs:ReceiveMessage")).toEqual([queueId("dispatcher")]);
    for (const sender of functions().filter((f) => ["api", "coordinator", "sweeper"].includes(f.role)))
      expect(grantedOn(sender, "sqs:SendMessage"), sender.name).toContain(queueId("dispatcher"));
  });

  it("allows nothing on every resource, no table management, and attaches no managed policy", () => {
    for (const fn of functions()) {
      for (const st of statementsOf(fn)) {
        expect([st.Resource].flat(), `${fn.name}: ${JSON.stringify(st)}`).not.toContain("*");
        for (const action of [st.Action].flat()) {
          expect(action).not.toMatch(/^dynamodb:(CreateTable|DeleteTable|UpdateTable|BatchWriteItem)$/);
          expect(action).not.toMatch(/\*/);
        }
      }
    }
    for (const id of s.ids("AWS::IAM::Role")) expect(s.props(id).ManagedPolicyArns).toBeUndefined();
  });
});

describe("triggers", () => {
  it("feeds each queue-triggered function from its queue, with the topology's batch size and partial batch failures", () => {
    const triggered = functions().filter((fn) => fn.trigger);
    s.template.resourceCountIs("AWS::Lambda::EventSourceMapping", triggered.length);
    for (const fn of triggered) {
      s.template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
        FunctionName: { Ref: functionId(fn) },
        EventSourceArn: { "Fn::GetAtt": [queueId(fn.trigger?.queue ?? ""), "Arn"] },
        BatchSize: fn.trigger?.batchSize,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
      });
    }
  });

  it("gives every scheduled function a timeout that fits its run through the minute, and no queue", () => {
    const scheduled = functions().filter((fn) => fn.schedule);
    expect(scheduled.length).toBeGreaterThan(1);
    for (const fn of scheduled) {
      expect(fn.trigger, fn.name).toBeUndefined();
      expect(s.props(functionId(fn)).Timeout, fn.name).toBeGreaterThanOrEqual(
        s.config.timers.runSeconds + 10,
      );
      expect(s.config.timers.runSeconds).toBeGreaterThan(60);
    }
  });

  it("runs the sweeper (and every scheduled function) from an EventBridge rule, rate(1 minute)", () => {
    const scheduled = functions().filter((fn) => fn.schedule);
    expect(scheduled.map((fn) => fn.role)).toContain("sweeper");
    s.template.resourceCountIs("AWS::Events::Rule", scheduled.length);
    for (const fn of scheduled) {
      const rule = s
        .ids("AWS::Events::Rule")
        .find((id) => idsIn(s.props(id).Targets).includes(functionId(fn)));
      expect(rule, fn.name).toBeDefined();
      expect(s.props(rule as string).ScheduleExpression).toBe("rate(1 minute)");
      s.template.hasResourceProperties("AWS::Lambda::Permission", {
        Action: "lambda:InvokeFunction",
        Principal: "events.amazonaws.com",
        FunctionName: { "Fn::GetAtt": [functionId(fn), "Arn"] },
        SourceArn: { "Fn::GetAtt": [rule, "Arn"] },
      });
    }
  });

  it("serves the API from a public function URL (auth is the API's keys) and outputs it", () => {
    const api = functions().filter((fn) => fn.http);
    expect(api.map((fn) => fn.role)).toEqual(["api"]);
    const apiId = functionId(api[0] as FunctionSpec);
    s.template.resourceCountIs("AWS::Lambda::Url", 1);
    s.template.hasResourceProperties("AWS::Lambda::Url", {
      AuthType: "NONE",
      TargetFunctionArn: { "Fn::GetAtt": [apiId, "Arn"] },
    });
    // Since October 2025 a public URL needs both permissions.
    s.template.hasResourceProperties("AWS::Lambda::Permission", {
      Action: "lambda:InvokeFunctionUrl",
      FunctionUrlAuthType: "NONE",
      Principal: "*",
      FunctionName: { "Fn::GetAtt": [apiId, "Arn"] },
    });
    s.template.hasResourceProperties("AWS::Lambda::Permission", {
      Action: "lambda:InvokeFunction",
      InvokedViaFunctionUrl: true,
      Principal: "*",
      FunctionName: { "Fn::GetAtt": [apiId, "Arn"] },
    });
    expect(idsIn(s.outputs.FunctionUrl?.Value)).toEqual(s.ids("AWS::Lambda::Url"));
  });
});

describe("alarms", () => {
  const topicId = () => s.idWhere("AWS::SNS::Topic", "TopicName", name("alarms"));
  const alarms = () => s.ids("AWS::CloudWatch::Alarm").map((id) => s.props(id));
  /** The alarm on `metric` (name, namespace, dimensions as CloudFormation writes them). */
  const alarmOn = (metricName: string, namespace: string, dimensions: unknown) =>
    alarms().filter(
      (a) =>
        a.MetricName === metricName &&
        a.Namespace === namespace &&
        JSON.stringify(a.Dimensions) === JSON.stringify(dimensions),
    );

  it("sends every alarm, above zero for a minute, to one SNS topic, and outputs the topic", () => {
    expect(alarms().length).toBeGreaterThan(0);
    for (const a of alarms()) {
      expect(a.Threshold).toBe(0);
      expect(a.ComparisonOperator).toBe("GreaterThanThreshold");
      expect(a.EvaluationPeriods).toBe(1);
      expect(a.Period).toBe(60);
      expect(a.TreatMissingData).toBe("notBreaching");
      expect(a.AlarmActions).toEqual([{ Ref: topicId() }]);
    }
    expect(s.outputs.AlarmTopicArn?.Value).toEqual({ Ref: topicId() });
  });

  it("alarms on every dead-letter queue holding a message", () => {
    for (const spec of s.config.topology.queues) {
      const dlq = queueId(spec.deadLetter.name);
      const found = alarmOn("ApproximateNumberOfMessagesVisible", "AWS/SQS", [
        { Name: "QueueName", Value: { "Fn::GetAtt": [dlq, "QueueName"] } },
      ]);
      expect(found, spec.deadLetter.name).toHaveLength(1);
    }
    // And on no queue that is not a dead-letter queue: a busy queue is no alarm.
    for (const spec of s.config.topology.queues) {
      const found = alarmOn("ApproximateNumberOfMessagesVisible", "AWS/SQS", [
        { Name: "QueueName", Value: { "Fn::GetAtt": [queueId(spec.name), "QueueName"] } },
      ]);
      expect(found, spec.name).toHaveLength(0);
    }
  });

  it("alarms on stalled decisions and stalled compensations, the sweeper's embedded metrics of this stack", () => {
    for (const metric of [METRICS.concord_decision_stalls_total, METRICS.concord_compensation_stalls_total]) {
      const found = alarmOn(metric.cloudWatch, CLOUDWATCH_NAMESPACE, [{ Name: "service", Value: PREFIX }]);
      expect(found, metric.cloudWatch).toHaveLength(1);
      expect(found[0]?.Statistic).toBe("Sum");
    }
  });

  it("alarms on every function's errors", () => {
    for (const fn of functions()) {
      const found = alarmOn("Errors", "AWS/Lambda", [
        { Name: "FunctionName", Value: { Ref: functionId(fn) } },
      ]);
      expect(found, fn.name).toHaveLength(1);
    }
  });
});

describe("retained data", () => {
  it("keeps the tables, protected from deletion, when the stack is deleted with retainData", () => {
    const retained = synthesize({ CONCORD_PREFIX: PREFIX }, { retainData: true });
    const tables = retained.ids("AWS::DynamoDB::Table");
    expect(tables.length).toBeGreaterThan(0);
    for (const id of tables) {
      expect(retained.resources[id]?.DeletionPolicy).toBe("Retain");
      expect(retained.props(id).DeletionProtectionEnabled).toBe(true);
    }
  });
});

describe("what AWS would refuse is refused at synth time", () => {
  const topology = (sweepIntervalSeconds = 60, prefix = PREFIX, bank = "bank-1"): Topology =>
    buildTopology({ prefix, bankServers: [bank], dueShards: 2, sweepIntervalSeconds });

  it("accepts the default topology", () => {
    expect(() => checkTopology(topology())).not.toThrow();
  });

  it.each([1, 30, 90])("refuses a %i s schedule: EventBridge rules run in whole minutes", (seconds) => {
    expect(() => checkTopology(topology(seconds))).toThrow(TopologyError);
  });

  it("refuses a prefix that makes a queue or function name too long for AWS", () => {
    // "<40 chars>-participant-the-bank-of-a-long-name" is over Lambda's 64.
    expect(() => checkTopology(topology(60, "p".repeat(40), "the-bank-of-a-long-name"))).toThrow(
      /shorter CONCORD_PREFIX/,
    );
  });

  it("refuses a function whose queue's visibility timeout is under 6x its timeout", () => {
    const base = topology();
    const slow: Topology = {
      ...base,
      functions: base.functions.map((fn) => (fn.trigger ? { ...fn, timeoutSeconds: 30 } : fn)),
    };
    expect(() => checkTopology(slow)).toThrow(/visibility timeout/);
  });

  it("names the stack after the prefix, as CloudFormation allows", () => {
    expect(stackNameFor("concord")).toBe("concord");
    expect(stackNameFor("my_app")).toBe("my-app");
    expect(stackNameFor("9lives")).toBe("concord-9lives");
  });
});
