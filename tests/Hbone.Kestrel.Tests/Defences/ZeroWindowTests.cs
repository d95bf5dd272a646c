// Contract row (docs/http2-server.md): a stream whose peer window is zero buffers at most 64 KiB from its upstream and the upstream's reads pause; sibling streams flow (H2-11).
using System.Net.Sockets;
using System.Diagnostics;
using System.Text;
using Hbone.Kestrel.Tests.Defences.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Defences;

[Collection(DefencesCollection.Name)]
public sealed class ZeroWindowTests
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(5);

    [Fact]
    [Trait("case", "H2-11")]
    public async Task H2_11_with_a_zero_stream_window_the_upstream_stalls_after_at_most_16_MiB_and_a_sibling_stream_still_echoes()
    {
        const long Attempt = 64L * 1024 * 1024;
        const long Bound = 16L * 1024 * 1024; // loopback socket buffers both ways + the 64 KiB stream buffer
        using var pusher = new TcpUpstream();
        using var echo = new TcpUpstream();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(14));
        _ = echo.RunEchoAsync(stop.Token);
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync(settings: [(SettingId.EnablePush, 0), (SettingId.InitialWindowSize, 0)]);
        client.ReturnStreamCredit = id => id != 1; // stream 1 never gets a WINDOW_UPDATE

        await client.SendAsync(Frames.Connect(1, pusher.Authority));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(1, Quick));
        using var upstream = await pusher.AcceptAsync(Quick);

        long written = 0;
        var writer = Task.Run(async () =>
        {
            var chunk = new byte[64 * 1024];
            try
            {
                while (Interlocked.Read(ref written) < Attempt)
                {
                    var n = await upstream.SendAsync(chunk, SocketFlags.None, stop.Token);
                    Interlocked.Add(ref written, n);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        });

        // Stalled: no progress for 1 s; bounded by 8 s.
        var clock = Stopwatch.StartNew();
        long last = -1;
        var since = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(8) && since.Elapsed < TimeSpan.FromSeconds(1))
        {
            await Task.Delay(100);
            var now = Interlocked.Read(ref written);
            if (now != last)
            {
                last = now;
                since.Restart();
            }
        }

        var total = Interlocked.Read(ref written);
        Assert.True(since.Elapsed >= TimeSpan.FromSeconds(1), $"the upstream never stalled: {total / (1024 * 1024.0):F1} MiB written in 8 s");
        Assert.True(total <= Bound, $"the upstream wrote {total / (1024 * 1024.0):F1} MiB into a stream whose window is 0");
        Assert.Equal(0, client.StreamOf(1).DataBytes);

        // A sibling stream on the same connection (its own window opened) still flows.
        await client.SendAsync(Frames.Concat([Frames.Connect(3, echo.Authority), Frames.WindowUpdate(3, 1024 * 1024)]));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(3, Quick));
        await client.SendAsync(Frames.Data(3, "sibling flows"u8));
        Assert.Equal("sibling flows", Encoding.ASCII.GetString(await client.StreamOf(3).ReadAsync(13, Quick)));

        await stop.CancelAsync();
        upstream.Dispose();
        await writer.WaitAsync(Quick);
    }
}
