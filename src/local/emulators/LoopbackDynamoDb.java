import java.io.InputStream;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * Starts DynamoDB Local bound to 127.0.0.1 only.
 *
 * Why: DynamoDB Local has no host option and listens on every interface. We
 * build its server with the normal CLI parser, then reach into the Jetty
 * connector (a private field) to set the host and the real port before start.
 *
 * The CLI rejects "-port 0", so the wanted port (0 = any free port) comes from
 * the system property concord.port; the "-port" argument is a placeholder.
 *
 * Prints "LISTENING <port>" once ready. Exits when stdin reaches EOF, so the
 * server dies with the Node process that started it, even on SIGKILL.
 */
public class LoopbackDynamoDb {
  public static void main(String[] args) throws Exception {
    int wantedPort = Integer.parseInt(System.getProperty("concord.port", "0"));
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    Server server = (Server) field.get(proxy);
    for (Connector connector : server.getConnectors()) {
      ServerConnector sc = (ServerConnector) connector;
      sc.setHost("127.0.0.1");
      sc.setPort(wantedPort);
    }

    watchParent();
    proxy.start();

    int port = ((ServerConnector) server.getConnectors()[0]).getLocalPort();
    System.out.println("LISTENING " + port);
    System.out.flush();
  }

  /** The parent holds the write end of our stdin; EOF means it is gone. */
  private static void watchParent() {
    Thread watcher = new Thread(() -> {
      InputStream in = System.in;
      byte[] buffer = new byte[256];
      try {
        while (in.read(buffer) != -1) {
          // Ignore input; only EOF matters.
        }
      } catch (Exception ignored) {
        // A broken pipe means the same as EOF.
      }
      System.exit(0);
    }, "parent-watcher");
    watcher.setDaemon(true);
    watcher.start();
  }
}
