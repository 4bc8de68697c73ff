package dev.lethe.es;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.ClasspathNode;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Starts one real Elasticsearch node, single-node discovery, bound to 127.0.0.1, and runs until
 * SIGTERM/SIGINT, when the node is closed cleanly.
 *
 *   java -cp 'lib/*' dev.lethe.es.Launcher --home DIR --http-port N --transport-port M
 */
public final class Launcher {
    public static void main(String[] args) throws Exception {
        Map<String, String> options = parse(args);
        Path home = Path.of(required(options, "--home")).toAbsolutePath();
        Files.createDirectories(home.resolve("config"));
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));

        LogConfigurator.configureESLogging();
        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", options.getOrDefault("--cluster-name", "lethe"))
            .put("node.name", options.getOrDefault("--node-name", "lethe-es"))
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", required(options, "--http-port"))
            .put("transport.port", required(options, "--transport-port"))
            .put("action.destructive_requires_name", "false")
            .build();
        // Logging is configured the way a distribution does it: from config/log4j2.properties,
        // written from the launcher's own resource, to the console (the stack's log file).
        try (InputStream config = Launcher.class.getResourceAsStream("/lethe-es-log4j2.properties")) {
            Files.copy(config, home.resolve("config/log4j2.properties"), StandardCopyOption.REPLACE_EXISTING);
        }
        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), home.resolve("config"), () -> "lethe-es");
        LogConfigurator.setNodeName(environment.settings().get("node.name"));
        LogConfigurator.configure(environment, true);

        List<Class<? extends Plugin>> plugins = List.of(Netty4Plugin.class, RootEndpointPlugin.class);
        Node node = new ClasspathNode(environment, plugins);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "lethe-es-shutdown"));
        node.start();
        System.out.println("lethe-es: node started, http on 127.0.0.1:" + options.get("--http-port"));
        stopped.await();
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> out = new java.util.HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                usage("unexpected argument: " + args[i]);
            }
            out.put(args[i], args[++i]);
        }
        return out;
    }

    private static String required(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) usage("missing " + name);
        return value;
    }

    private static void usage(String problem) {
        System.err.println("lethe-es: " + problem);
        System.err.println("usage: Launcher --home DIR --http-port N --transport-port M [--cluster-name C] [--node-name N]");
        System.exit(2);
    }
}
