using System.Net;
using Hbone.Identity;
using Hbone.Kestrel;

// A custom HBONE gateway: terminates HBONE on Kestrel, applies its own identity rule, then either serves the
// tunnel in-process (authority "echo.gateway.local:7") or forwards it to the authority over TCP.
// Usage: Gateway <certs dir from `hbone certs`> [listen IP:PORT]
var certs = args.Length > 0 ? args[0] : throw new ArgumentException("usage: Gateway CERTS_DIR [IP:PORT]");
var listen = IPEndPoint.Parse(args.Length > 1 ? args[1] : "127.0.0.1:15008");
var identity = new PemFileCertificateSource(Path.Combine(certs, "server.pem"), Path.Combine(certs, "server.key"), Path.Combine(certs, "ca.pem"));

var builder = WebApplication.CreateBuilder();
builder.Services.AddSingleton(identity);
builder.Services.AddSingleton<HboneForwarder>();
builder.Services.AddHboneServer(o =>
{
    o.Certificate = identity;
    o.OnTunnelCompleted = entry => Console.WriteLine(entry);
}).AddHandler<GatewayHandler>();
builder.Services.AddOptions<HboneForwarderOptions>();
builder.WebHost.ConfigureKestrel(k => k.ListenHbone(listen));

var app = builder.Build();
app.Run();

/// <summary>Only the "default" namespace may use the gateway; one virtual service is answered in-process.</summary>
internal sealed class GatewayHandler(HboneForwarder forwarder) : IHboneConnectHandler
{
    public async ValueTask HandleAsync(HboneConnectContext context)
    {
        // The rule uses the identity from the peer's certificate, never a header.
        if (!context.PeerIdentity.TryGetIstioIdentity(out var peer) || peer.Namespace != "default")
        {
            await context.RejectAsync(401, $"{context.PeerIdentity} is not in namespace default");
            return;
        }

        if (context.Authority.Host == "echo.gateway.local")
        {
            // Served in-process: echo everything back until the client half-closes.
            var tunnel = await context.AcceptAsync(context.Aborted);
            await tunnel.Stream.CopyToAsync(tunnel.Stream, context.Aborted);
            await tunnel.CompleteWritesAsync();
            return;
        }

        await forwarder.HandleAsync(context);
    }
}
