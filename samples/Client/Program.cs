using System.Net;
using System.Text;
using Hbone.Client;
using Hbone.Identity;
using Hbone.Protocol;

// Usage: Client <certs dir from `hbone certs`> <HBONE server IP:PORT> <target IP:PORT>
// Opens three tunnels with one pooled client (they share one HTTP/2 connection) and sends an HTTP request in each.
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: Client CERTS_DIR HBONE_SERVER_IP:PORT TARGET_IP:PORT");
    return 1;
}

var certs = args[0];
using var identity = new PemFileCertificateSource(Path.Combine(certs, "client.pem"), Path.Combine(certs, "client.key"), Path.Combine(certs, "ca.pem"));
await using var client = new HboneClient(new HboneClientOptions { Certificate = identity });

for (var i = 1; i <= 3; i++)
{
    var request = new HboneRequest
    {
        Destination = IPEndPoint.Parse(args[1]),
        Authority = HboneAuthority.Parse(args[2]),
        ExpectedIdentities = [SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/server")],
        ForwardedFor = new IPEndPoint(IPAddress.Loopback, 40000 + i),
    };

    try
    {
        await using var tunnel = await client.ConnectAsync(request);
        await tunnel.WriteAsync(Encoding.ASCII.GetBytes($"GET / HTTP/1.0\r\nHost: {args[2]}\r\n\r\n"));
        await tunnel.CompleteWritesAsync();
        using var reader = new StreamReader(tunnel);
        var statusLine = await reader.ReadLineAsync();
        Console.WriteLine($"tunnel {i}: {statusLine} (traceparent {tunnel.TraceParent})");
    }
    catch (HboneConnectException ex)
    {
        Console.WriteLine($"tunnel {i}: refused with {ex.ResponseStatus}");
    }
}

return 0;
