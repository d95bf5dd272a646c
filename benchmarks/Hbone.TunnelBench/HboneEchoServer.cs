using Hbone.Identity;
using Hbone.Kestrel;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hbone.TunnelBench;

/// <summary>
/// An HBONE server (Hbone.Kestrel, our engine) whose handler echoes each tunnel itself instead of dialling an
/// upstream: streamrate against it measures what a CONNECT stream costs the engine, without the TCP connection
/// per tunnel that <c>hbone serve</c> adds (which alone caps the rate at the machine's loopback connect rate).
/// </summary>
internal static class HboneEchoServer
{
    public static async Task<int> RunAsync(Options options, CancellationToken token)
    {
        options.Allow("listen", "cert", "key", "ca");
        // As hbone serve and the ztunnel run: socket completions inline, before the first socket exists.
        Hbone.Hosting.SocketCompletions.PreferInline();
        var endPoint = options.EndPoint("listen");
        using var source = new PemFileCertificateSource(options.Required("cert"), options.Required("key"), options.Required("ca"));

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddHboneServer(o =>
        {
            o.Certificate = source;
            o.TrustBundle = source;
            o.DrainTimeout = TimeSpan.FromSeconds(1);
            o.UnsafePreferInlineScheduling = Hbone.Hosting.SocketCompletions.IsInline;
        }).AddHandler(EchoAsync);
        builder.WebHost.ConfigureKestrel(k => k.ListenHbone(endPoint));

        await using var app = builder.Build();
        await app.StartAsync(token);
        Console.Out.WriteLine($"listening on {app.Urls.First().Replace("https://", "", StringComparison.Ordinal)}");
        Console.Out.Flush();
        try
        {
            await Task.Delay(Timeout.Infinite, token);
        }
        catch (OperationCanceledException)
        {
        }

        await app.StopAsync(CancellationToken.None);
        return 0;
    }

    /// <summary>Accepts the CONNECT and copies what the peer sends back to it until the peer half-closes.</summary>
    private static async ValueTask EchoAsync(HboneConnectContext context)
    {
        var tunnel = await context.AcceptAsync(context.Aborted);
        while (true)
        {
            var read = await tunnel.Input.ReadAsync(context.Aborted);
            foreach (var segment in read.Buffer)
            {
                await tunnel.Output.WriteAsync(segment, context.Aborted);
            }

            tunnel.Input.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted)
            {
                break;
            }
        }

        await tunnel.CompleteWritesAsync();
    }
}
