using System.CommandLine;
using System.Net;
using Hbone.Identity;
using Hbone.Kestrel;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hbone.Cli.Commands;

/// <summary><c>hbone serve</c>: an HBONE server forwarding each CONNECT to its authority, one access-log line per tunnel.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "IP:PORT to listen on (port 0 picks a free port).", DefaultValueFactory = _ => "127.0.0.1:15008" };
        var cert = new Option<FileInfo>("--cert") { Description = "PEM certificate chain of this server's SVID (leaf first).", Required = true };
        var key = new Option<FileInfo>("--key") { Description = "PEM private key of the SVID.", Required = true };
        var ca = new Option<FileInfo>("--ca") { Description = "PEM trust bundle (roots) that clients' SVIDs must chain to.", Required = true };
        var allow = new Option<string[]>("--allow") { Description = "SPIFFE ID allowed to open tunnels (repeatable); other identities get 401. Without it, any identity of the trust domain.", AllowMultipleArgumentsPerToken = true };
        var drain = new Option<double>("--drain-timeout") { Description = "Seconds open tunnels may continue after SIGTERM.", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Write access-log lines as JSON." };

        var command = new Command("serve", "Run an HBONE server that forwards each CONNECT to its authority over TCP.") { listen, cert, key, ca, allow, drain, json };
        command.SetAction((parse, token) => CliError.RunAsync(() => RunAsync(
            ParseEndPoint(parse.GetRequiredValue(listen)),
            parse.GetRequiredValue(cert).FullName,
            parse.GetRequiredValue(key).FullName,
            parse.GetRequiredValue(ca).FullName,
            ParseAllowList(parse.GetValue(allow)),
            parse.GetValue(drain),
            parse.GetValue(json),
            token)));
        return command;
    }

    private static async Task<int> RunAsync(IPEndPoint endPoint, string cert, string key, string ca, HashSet<SpiffeId>? allowed, double drainSeconds, bool json, CancellationToken token)
    {
        if (drainSeconds < 0)
        {
            throw new CliError($"--drain-timeout must not be negative, got {drainSeconds}");
        }

        using var source = new PemFileCertificateSource(cert, key, ca);
        // An empty builder: serve is configured by its flags alone. The slim builder would also read appsettings.json and
        // ASPNETCORE_* from wherever it runs, and watch that directory tree recursively for changes (an inotify watch per directory).
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning).AddFilter("Hbone", LogLevel.Warning);
        // The host logs a failed start with a stack trace; CliError already reports it as one line.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);

        var stdout = Console.Out;
        builder.Services.AddHboneServer(o =>
        {
            o.Certificate = source;
            o.TrustBundle = source;
            o.DrainTimeout = TimeSpan.FromSeconds(drainSeconds);
            o.UnsafePreferInlineScheduling = Hbone.Hosting.SocketCompletions.IsInline;
            o.OnTunnelCompleted = entry => stdout.WriteLine(AccessLogLine.Format(entry, json));
        }).AddForwarder(o =>
        {
            if (allowed is not null)
            {
                o.Authorize = context => ValueTask.FromResult(allowed.Contains(context.PeerIdentity));
            }
        });
        builder.WebHost.ConfigureKestrel(k => k.ListenHbone(endPoint));

        await using var app = builder.Build();
        try
        {
            await app.StartAsync(token).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw new CliError($"cannot listen on {endPoint}: {ex.InnerException?.Message ?? ex.Message}");
        }

        var bound = app.Urls.FirstOrDefault() ?? endPoint.ToString();
        await Console.Error.WriteLineAsync($"hbone serve: listening on {bound} as {source.GetSvid().Id}").ConfigureAwait(false);
        await app.WaitForShutdownAsync(token).ConfigureAwait(false);
        return 0;
    }

    internal static IPEndPoint ParseEndPoint(string value) =>
        IPEndPoint.TryParse(value, out var endPoint) && value.Contains(':', StringComparison.Ordinal)
            ? endPoint
            : throw new CliError($"invalid address '{value}': expected IP:PORT, for example 127.0.0.1:15008 or [::1]:15008");

    private static HashSet<SpiffeId>? ParseAllowList(string[]? values)
    {
        if (values is null || values.Length == 0)
        {
            return null;
        }

        var set = new HashSet<SpiffeId>();
        foreach (var value in values)
        {
            set.Add(SpiffeId.TryParse(value, out var id, out var error) ? id : throw new CliError($"--allow '{value}' is not a valid SPIFFE ID ({error})"));
        }

        return set;
    }
}
