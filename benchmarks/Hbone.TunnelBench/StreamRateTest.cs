using Hbone.Client;
using Hbone.Identity;
using Hbone.Protocol;

namespace Hbone.TunnelBench;

/// <summary>
/// New tunnels per second on a warm connection: the Hbone client library in process opens a CONNECT stream
/// on its pooled HTTP/2 connection, sends 1 byte, reads it back and closes; W workers for S seconds. Every
/// request has the same pool key, so after the first dial only streams are created, never connections.
/// </summary>
internal static class StreamRateTest
{
    public static async Task<int> RunAsync(Options options, CancellationToken token)
    {
        options.Allow("via", "target", "cert", "key", "ca", "seconds", "workers");
        var via = options.EndPoint("via");
        var target = options.EndPoint("target");
        var duration = TimeSpan.FromSeconds(options.Seconds("seconds", 5, 600));
        var workers = options.Int("workers", 16, 1, 1024);
        // The client as the ztunnel and hbone forward run it: socket completions inline, before the first socket.
        Hbone.Hosting.SocketCompletions.PreferInline();

        using var source = new PemFileCertificateSource(options.Required("cert"), options.Required("key"), options.Required("ca"));
        await using var client = new HboneClient(new HboneClientOptions
        {
            Certificate = source,
            TrustBundle = source,
            UnsafePreferInlineScheduling = Hbone.Hosting.SocketCompletions.IsInline,
        });
        var request = new HboneRequest { Destination = via, Authority = HboneAuthority.Parse(target.ToString()) };

        // Warm-up: the connection is dialled (TCP + mTLS + SETTINGS) before the clock starts.
        using (var warm = CancellationTokenSource.CreateLinkedTokenSource(token))
        {
            warm.CancelAfter(TimeSpan.FromSeconds(10));
            await OneTunnelAsync(client, request, new byte[1], warm.Token);
        }

        var result = await RateRun.RunAsync(
            workers,
            duration,
            // Each tunnel gets its own byte: workers run at once.
            attempt => OneTunnelAsync(client, request, new byte[1], attempt),
            static e => e is HboneException or IOException or OperationCanceledException or BenchException or InvalidOperationException,
            token);

        Wire.PrintJson(w =>
        {
            w.WriteString("test", "streamrate");
            w.WriteString("via", via.ToString());
            w.WriteString("target", target.ToString());
            w.WriteNumber("workers", workers);
            result.Write(w, "tunnels");
        });
        return result.Completed > 0 ? 0 : 1;
    }

    /// <summary>CONNECT, one byte there and back through the echo server, then END_STREAM and close.</summary>
    private static async Task OneTunnelAsync(HboneClient client, HboneRequest request, byte[] one, CancellationToken token)
    {
        await using var stream = await client.ConnectAsync(request, token);
        one[0] = 0x2a;
        await stream.WriteAsync(one, token);
        one[0] = 0;
        if (await stream.ReadAsync(one, token) != 1 || one[0] != 0x2a)
        {
            throw new BenchException("the echoed byte differs from the one sent");
        }

        // Half-close, then wait for the server's END_STREAM (the echo server's FIN): a clean close, no reset.
        await stream.CompleteWritesAsync(token);
        if (await stream.ReadAsync(one, token) != 0)
        {
            throw new BenchException("the echo server sent more than the byte echoed");
        }
    }
}
