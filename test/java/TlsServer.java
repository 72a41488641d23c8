// A Java HTTPS server (JSSE: TLS inside the JVM, no native TLS library) for the TLS coverage test:
// a process that serves TLS and that no tap can read. Run with the source launcher (Java 11+):
//   java TlsServer.java <host> <port> <keystore.p12> <password>
// Prints "ready <pid>" once listening; answers every request 200 "hello from java".

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.FileInputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

public class TlsServer {
  public static void main(String[] args) throws Exception {
    char[] pass = args[3].toCharArray();
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (FileInputStream in = new FileInputStream(args[2])) {
      ks.load(in, pass);
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, pass);
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(kmf.getKeyManagers(), null, null);
    HttpsServer s = HttpsServer.create(new InetSocketAddress(args[0], Integer.parseInt(args[1])), 64);
    s.setHttpsConfigurator(new HttpsConfigurator(ctx));
    s.createContext("/", ex -> {
      byte[] body = "hello from java\n".getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    s.start();
    System.out.println("ready " + ProcessHandle.current().pid());
    System.out.flush();
  }
}
