using System.CommandLine;
using System.Globalization;
using System.Net;
using DevControlPlane.Config;
using DevControlPlane.Hosting;
using Hbone.Identity;

// A development istiod: delta xDS from ztunnel's local YAML and a CA that signs for the mesh root, on one TLS port.
var listen = new Option<string[]>("--listen") { Description = "IP:PORT to serve on (TLS, HTTP/2). Repeatable.", DefaultValueFactory = _ => ["127.0.0.1:15012"] };
var config = new Option<string>("--config") { Description = "The mesh: ztunnel's local config YAML (workloads, services, policies); reloaded on change.", Required = true };
var caCert = new Option<string>("--ca-cert") { Description = "The mesh root certificate (ca.pem from `hbone certs`).", Required = true };
var caKey = new Option<string>("--ca-key") { Description = "The mesh root's private key (ca.key from `hbone certs`).", Required = true };
var trustDomain = new Option<string>("--trust-domain") { Description = "SPIFFE trust domain of issued identities.", DefaultValueFactory = _ => "cluster.local" };
var nodeTokens = new Option<string[]>("--node-token") { Description = "NODE=TOKEN: a bearer token and the node it authenticates. Repeatable. None: no authentication (development only)." };
var serverName = new Option<string>("--server-name") { Description = "DNS name on the serving certificate (which also carries the --listen IPs).", DefaultValueFactory = _ => "istiod.istio-system.svc" };
var certTtlMax = new Option<string>("--cert-ttl-max") { Description = "Longest workload certificate issued: e.g. 24h, 90d, 30m.", DefaultValueFactory = _ => "90d" };

var root = new RootCommand("controlplane: a development stand-in for istiod (xDS from a YAML file + a CA). Exit codes: 0 stopped by SIGTERM/Ctrl+C, 1 error (one line on stderr).")
{
    listen, config, caCert, caKey, trustDomain, nodeTokens, serverName, certTtlMax,
};

root.SetAction(async (parse, cancellationToken) =>
{
    try
    {
        var options = new DevControlPlaneOptions
        {
            ConfigPath = parse.GetRequiredValue(config),
            CaCertPath = parse.GetRequiredValue(caCert),
            CaKeyPath = parse.GetRequiredValue(caKey),
            TrustDomain = parse.GetRequiredValue(trustDomain),
            ServerName = parse.GetRequiredValue(serverName),
            CertTtlMax = CommandLine.Duration(parse.GetRequiredValue(certTtlMax), "--cert-ttl-max"),
        };
        foreach (string value in parse.GetRequiredValue(listen))
        {
            options.Listen.Add(IPEndPoint.TryParse(value, out IPEndPoint? endpoint) && endpoint.Port > 0
                ? endpoint
                : throw new CommandLineException($"--listen '{value}' is not IP:PORT"));
        }

        foreach (string value in parse.GetValue(nodeTokens) ?? [])
        {
            int equals = value.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || equals == value.Length - 1)
            {
                throw new CommandLineException($"--node-token '{value}' is not NODE=TOKEN");
            }

            options.NodeByToken[value[(equals + 1)..]] = value[..equals];
        }

        await using DevControlPlaneHost host = await DevControlPlaneHost.StartAsync(options, cancellationToken);
        Console.Error.WriteLine($"controlplane: serving xDS and CA on {string.Join(", ", host.Endpoints.Select(e => $"https://{e}"))} as {options.ServerName}"
            + (options.NodeByToken.Count == 0 ? " (no node tokens: callers are not authenticated)" : ""));
        await host.WaitForShutdownAsync(CancellationToken.None);
        return 0;
    }
    catch (Exception e) when (e is CommandLineException or MeshConfigException or IOException or UnauthorizedAccessException or CertificateLoadException or ArgumentException)
    {
        Console.Error.WriteLine($"controlplane: error: {e.Message.ReplaceLineEndings(" ")}");
        return 1;
    }
});

ParseResult parsed = root.Parse(args);
if (parsed.Errors.Count > 0 && parsed.Action is not System.CommandLine.Help.HelpAction)
{
    Console.Error.WriteLine($"controlplane: error: {string.Join(" ", parsed.Errors.Select(e => e.Message.ReplaceLineEndings(" ")))} See 'controlplane --help'.");
    return 1;
}

// The host handles SIGTERM itself and stops cleanly; System.CommandLine's own handler would cut that short.
return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });

internal sealed class CommandLineException(string message) : Exception(message);

internal static class CommandLine
{
    /// <summary>A duration as Go writes them for istiod's flags: a number with s, m, h or d.</summary>
    public static TimeSpan Duration(string text, string option)
    {
        if (text.Length >= 2 && double.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value) && value > 0)
        {
            switch (text[^1])
            {
                case 's': return TimeSpan.FromSeconds(value);
                case 'm': return TimeSpan.FromMinutes(value);
                case 'h': return TimeSpan.FromHours(value);
                case 'd': return TimeSpan.FromDays(value);
            }
        }

        throw new CommandLineException($"{option} '{text}' is not a positive duration such as 24h, 90d or 30m");
    }
}
