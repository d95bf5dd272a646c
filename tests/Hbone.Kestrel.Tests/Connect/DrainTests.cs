using Hbone.Http2;
using System.Diagnostics;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Connect;

/// <summary>Graceful drain: GOAWAY, open tunnels continue until the deadline, then a forced close.</summary>
public sealed class DrainTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    [Trait("case", "FT-08")]
    public async Task FT_08_stop_sends_GOAWAY_NO_ERROR_open_tunnel_keeps_working_new_streams_refused()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync(o => o.DrainTimeout = TimeSpan.FromSeconds(3));
        await using var connection = await server.ConnectProcessingAsync();
        var tunnel = await connection.OpenStreamAsync(upstream.Authority);
        Assert.Equal(200, await tunnel.StatusAsync().WaitAsync(Deadline));

        var stopping = server.App.StopAsync(CancellationToken.None);
        var goAway = await connection.GoAway.Task.WaitAsync(Deadline);
        Assert.Equal((int)Http2ErrorCode.NoError, goAway.ErrorCode);

        // The open tunnel still carries data during the drain.
        await tunnel.WriteAsync("during drain"u8.ToArray());
        var buffer = new byte[12];
        var read = 0;
        while (read < buffer.Length)
        {
            read += await tunnel.ReadAsync(buffer.AsMemory(read)).AsTask().WaitAsync(Deadline);
        }

        Assert.Equal("during drain"u8.ToArray(), buffer);

        // A draining HBONE server refuses new streams.
        var accepted = upstream.Accepted;
        var late = await connection.OpenStreamAsync(upstream.Authority);
        Assert.Equal((int)Http2ErrorCode.RefusedStream, await late.Reset.Task.WaitAsync(Deadline));
        Assert.Equal(accepted, upstream.Accepted);
        var refused = await server.NextLogAsync(Deadline);
        Assert.Equal((TunnelOutcome.Refused, "draining", upstream.Authority), (refused.Outcome, refused.Error, refused.Authority));

        // At the deadline the server closes what is left, and stops.
        await stopping.WaitAsync(TimeSpan.FromSeconds(15));
        await connection.ReaderClosed.Task.WaitAsync(Deadline);
    }

    [Fact]
    [Trait("case", "FT-09")]
    public async Task FT_09_idle_tunnel_that_never_closes_does_not_hold_shutdown_past_the_deadline()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync(o => o.DrainTimeout = TimeSpan.FromSeconds(2));
        await using var connection = await server.ConnectProcessingAsync();
        var tunnel = await connection.OpenStreamAsync(upstream.Authority);
        using var accepted = await upstream.AcceptAsync();
        Assert.Equal(200, await tunnel.StatusAsync().WaitAsync(Deadline));

        var clock = Stopwatch.StartNew();
        await server.App.StopAsync(CancellationToken.None).WaitAsync(Deadline);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(10));

        // The forced close reaches both sides: the peer's connection ends and the upstream sees its socket go.
        await connection.ReaderClosed.Task.WaitAsync(Deadline);
        var end = await TcpUpstream.ReadToEndOrResetAsync(accepted);
        Assert.True(end, "the upstream connection must be closed after the drain deadline");
    }
}
