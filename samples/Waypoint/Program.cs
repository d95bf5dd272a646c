using System.Net;
using Hbone.Identity;
using Hbone.Istio;
using Hbone.Kestrel;
using Waypoint;
using Waypoint.Mesh;

// An L4 waypoint and east-west gateway on the Hbone packages only.
// Usage: Waypoint CONFIG.json CERTS_DIR NAME [listen IP:PORT (default 0.0.0.0:15008)]
//   CERTS_DIR holds ca.pem and NAME.pem / NAME.key (as `hbone certs --identity NS/NAME` writes them): the waypoint's SVID.
// Joined to a mesh (XDS_ADDRESS set; see README): Waypoint [listen IP:PORT]
//   identity, trust and services come from istiod.
WaypointMeshOptions? meshOptions;
try
{
    meshOptions = WaypointMeshOptions.FromEnvironment(Environment.GetEnvironmentVariables());
}
catch (WaypointConfigException ex)
{
    Console.Error.WriteLine($"waypoint: error: {ex.Message}");
    return 1;
}

int fileArgs = meshOptions is null ? 3 : 0;
if (args.Length < fileArgs || args.Length > fileArgs + 1)
{
    Console.Error.WriteLine(meshOptions is null ? "usage: Waypoint CONFIG.json CERTS_DIR NAME [IP:PORT]" : "usage (XDS_ADDRESS set): Waypoint [IP:PORT]");
    return 2;
}

var listen = IPEndPoint.Parse(args.Length > fileArgs ? args[fileArgs] : "0.0.0.0:15008");
using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
WaypointMesh? mesh = null;
ISvidSource identity;
ITrustBundleSource trust;
IWaypointServiceSource services;
IReadOnlyList<string> allow;
if (meshOptions is null)
{
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

    var files = new PemFileCertificateSource(Path.Combine(args[1], $"{args[2]}.pem"), Path.Combine(args[1], $"{args[2]}.key"), Path.Combine(args[1], "ca.pem"));
    (identity, trust, services, allow) = (files, files, config, config.Allow);
}
else
{
    // Waits for istiod (the CA and xDS keep retrying, and log why); Ctrl+C ends the wait.
    Console.WriteLine($"waypoint: joining the mesh at {meshOptions.Xds.Address} as {meshOptions.Identity}");
    try
    {
        mesh = await WaypointMesh.JoinAsync(meshOptions, loggers, CancellationToken.None);
    }
    catch (IstioException ex)
    {
        Console.Error.WriteLine($"waypoint: error: {ex.Message}");
        return 1;
    }

    // No allow list: any peer whose certificate chains to the mesh root may pass (istiod's policies are not applied here).
    (identity, trust, services, allow) = (mesh.Identity, mesh.Certificates, mesh.Services, []);
}

await using (mesh)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Services.AddWaypoint(identity, trust, new WaypointRouter(services, allow), entry => Console.WriteLine(entry));
    builder.WebHost.ConfigureKestrel(k => k.ListenHbone(listen));

    var app = builder.Build();
    Console.WriteLine($"waypoint: {identity.GetSvid().Id} on {listen}, {services.Services.Count} service(s)");
    await app.RunAsync();
}

return 0;
