using System.Net;
using Hbone.Client;
using Hbone.Identity;
using Hbone.Kestrel;
using Waypoint;

// An L4 waypoint and east-west gateway on the Hbone packages only.
// Usage: Waypoint CONFIG.json CERTS_DIR NAME [listen IP:PORT (default 0.0.0.0:15008)]
//   CERTS_DIR holds ca.pem and NAME.pem / NAME.key (as `hbone certs --identity NS/NAME` writes them): the waypoint's SVID.
if (args.Length is < 3 or > 4)
{
    Console.Error.WriteLine("usage: Waypoint CONFIG.json CERTS_DIR NAME [IP:PORT]");
    return 2;
}

WaypointConfig config;
try
{
    config = WaypointConfig.Load(args[0]);
}
catch (WaypointConfigException ex)
{
    Console.Error.WriteLine($"waypoint: error: {ex.Message}");
    return 1;
}

var listen = IPEndPoint.Parse(args.Length > 3 ? args[3] : "0.0.0.0:15008");
var identity = new PemFileCertificateSource(Path.Combine(args[1], $"{args[2]}.pem"), Path.Combine(args[1], $"{args[2]}.key"), Path.Combine(args[1], "ca.pem"));

var builder = WebApplication.CreateSlimBuilder();
builder.Services.AddSingleton<ISvidSource>(identity);
builder.Services.AddSingleton(new WaypointRouter(config));
builder.Services.AddSingleton(_ => new HboneClient(new HboneClientOptions { Certificate = identity }));
builder.Services.AddHboneServer(o =>
{
    o.Certificate = identity;
    o.OnTunnelCompleted = entry => Console.WriteLine(entry);
}).AddHandler<WaypointHandler>();
builder.WebHost.ConfigureKestrel(k => k.ListenHbone(listen));

var app = builder.Build();
Console.WriteLine($"waypoint: {identity.GetSvid().Id} on {listen}, {config.Services.Count} service(s)");
await app.RunAsync();
return 0;
