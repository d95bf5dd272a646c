using System.Buffers.Binary;
using Hbone.Http2;
using Hbone.Kestrel.Tests.Infrastructure;
using Hbone.Kestrel.Tests.Protocol;

namespace Hbone.Kestrel.Tests.Engine;

/// <summary>Engine behaviour on the wire for rows of docs/http2-server.md (raw frames in, exact answers out).</summary>
public sealed class EngineConnectionTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    [Fact]
    [Trait("case", "H2-06")]
    public async Task H2_06_oversized_header_list_is_431_and_the_connection_keeps_serving()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();

        await connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", upstream.Authority), ("x-big", new string('a', 70 * 1024))], endStream: false);
        Assert.Equal(ServerAnswer.Status(431), await ServerAnswer.ReadAsync(connection, 1));

        await connection.WriteHeadersAsync(3, [(":method", "CONNECT"), (":authority", upstream.Authority)], endStream: false);
        Assert.Equal(ServerAnswer.Status(200), await ServerAnswer.ReadAsync(connection, 3));
        using var accepted = await upstream.AcceptAsync(Deadline);
    }

    [Fact]
    [Trait("case", "H2-04")]
    public async Task H2_04_the_ninth_oversized_header_list_is_goaway_enhance_your_calm()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();
        var big = new string('a', 70 * 1024);
        for (var i = 0; i < 8; i++)
        {
            await connection.WriteHeadersAsync(1 + 2 * i, [(":method", "CONNECT"), (":authority", upstream.Authority), ("x-big", big)], endStream: true);
            Assert.Equal(ServerAnswer.Status(431), await ServerAnswer.ReadAsync(connection, 1 + 2 * i));
        }

        await connection.WriteHeadersAsync(17, [(":method", "CONNECT"), (":authority", upstream.Authority), ("x-big", big)], endStream: true);
        var goAway = await ServerAnswer.ReadGoAwayThenCloseAsync(connection);
        Assert.NotNull(goAway);
        Assert.Equal((int)Http2ErrorCode.EnhanceYourCalm, goAway.ErrorCode);
        Assert.Equal(15, BinaryPrimitives.ReadInt32BigEndian(goAway.Payload) & int.MaxValue);
    }

    [Fact]
    [Trait("case", "H2-05")]
    public async Task H2_05_more_than_32_continuation_frames_is_goaway_enhance_your_calm()
    {
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();
        var block = Hpack.Encode([(":method", "CONNECT"), (":authority", "127.0.0.1:1")]);

        await connection.WriteFrameAsync(FrameType.Headers, 0, 1, block.AsMemory(0, 1));
        for (var i = 0; i < 33; i++)
        {
            await connection.WriteFrameAsync(FrameType.Continuation, 0, 1, new byte[] { 0x00, 0x01, (byte)'x', 0x00 }.AsMemory(0, 0));
        }

        var goAway = await ServerAnswer.ReadGoAwayThenCloseAsync(connection);
        Assert.NotNull(goAway);
        Assert.Equal((int)Http2ErrorCode.EnhanceYourCalm, goAway.ErrorCode);
    }

    [Fact]
    [Trait("case", "H2-05")]
    public async Task H2_05_a_header_block_not_finished_in_time_is_goaway_enhance_your_calm()
    {
        await using var server = await HboneTestServer.StartAsync(o => o.RequestHeadersTimeout = TimeSpan.FromMilliseconds(300));
        await using var connection = await server.ConnectAsync();
        var block = Hpack.Encode([(":method", "CONNECT"), (":authority", "127.0.0.1:1")]);

        await connection.WriteFrameAsync(FrameType.Headers, 0, 1, block);

        var goAway = await ServerAnswer.ReadGoAwayThenCloseAsync(connection);
        Assert.NotNull(goAway);
        Assert.Equal((int)Http2ErrorCode.EnhanceYourCalm, goAway.ErrorCode);
    }

    [Fact]
    [Trait("case", "H2-18")]
    public async Task H2_18_no_preface_within_the_preface_timeout_closes_the_connection()
    {
        await using var server = await HboneTestServer.StartAsync(o => o.PrefaceTimeout = TimeSpan.FromMilliseconds(300));
        await using var connection = await RawHttp2Connection.OpenAsync(server.EndPoint, TestPki.Shared.Client, sendPreface: false);

        var bytes = await Http2FrameTests.ReadRawUntilCloseAsync(connection.Stream);
        Assert.Empty(bytes);
    }

    [Fact]
    [Trait("case", "H2-21")]
    public async Task H2_21_an_unanswered_keep_alive_ping_closes_the_connection()
    {
        await using var server = await HboneTestServer.StartAsync(o =>
        {
            o.KeepAlivePingDelay = TimeSpan.FromMilliseconds(200);
            o.KeepAlivePingTimeout = TimeSpan.FromMilliseconds(400);
        });
        await using var connection = await server.ConnectAsync();

        // Read without answering: the server's PING goes unanswered.
        var frames = Http2FrameTests.ParseFrames(await Http2FrameTests.ReadRawUntilCloseAsync(connection.Stream));
        Assert.Contains(frames, f => f.Type == FrameType.Ping && !f.HasFlag(FrameFlags.Ack));
    }

    [Fact]
    [Trait("case", "H2-01")]
    public async Task H2_01_rapid_reset_beyond_the_budget_is_goaway_enhance_your_calm_and_cancels_handlers()
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await HboneTestServer.StartAsync(handler: b => b.AddHandler(async ctx =>
        {
            try
            {
                // Never answers: every reset below comes before the answer.
                await Task.Delay(Timeout.Infinite, ctx.Aborted);
            }
            catch (OperationCanceledException)
            {
                cancelled.TrySetResult();
                throw;
            }
        }));
        await using var connection = await server.ConnectAsync();
        var reading = ServerAnswer.ReadGoAwayThenCloseAsync(connection, TimeSpan.FromSeconds(30));

        try
        {
            for (var i = 0; i < 320; i++)
            {
                var id = 1 + 2 * i;
                await connection.WriteHeadersAsync(id, [(":method", "CONNECT"), (":authority", "127.0.0.1:9")], endStream: false);
                await connection.WriteRstStreamAsync(id, (int)Http2ErrorCode.Cancel);
            }
        }
        catch (IOException)
        {
            // The server may close before the last pairs were written.
        }

        var goAway = await reading;
        Assert.NotNull(goAway);
        Assert.Equal((int)Http2ErrorCode.EnhanceYourCalm, goAway.ErrorCode);
        await cancelled.Task.WaitAsync(Deadline);
    }

    [Fact]
    [Trait("case", "H2-08")]
    public async Task H2_08_a_ping_flood_is_goaway_enhance_your_calm()
    {
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();
        var reading = ServerAnswer.ReadGoAwayThenCloseAsync(connection, TimeSpan.FromSeconds(30));

        try
        {
            for (var i = 0; i < 1100; i++)
            {
                await connection.WriteFrameAsync(FrameType.Ping, 0, 0, new byte[8]);
            }
        }
        catch (IOException)
        {
            // The server may close before the last PINGs were written.
        }

        var goAway = await reading;
        Assert.NotNull(goAway);
        Assert.Equal((int)Http2ErrorCode.EnhanceYourCalm, goAway.ErrorCode);
    }

    [Theory]
    [Trait("case", "H2-15")]
    [InlineData("even stream id")]
    [InlineData("data on stream 0")]
    [InlineData("window update on an idle stream")]
    [InlineData("continuation without a block")]
    [InlineData("push promise")]
    public async Task H2_15_stream_id_and_frame_order_errors_are_goaway_protocol_error(string @case)
    {
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();

        await (@case switch
        {
            "even stream id" => connection.WriteHeadersAsync(2, [(":method", "CONNECT"), (":authority", "127.0.0.1:1")], endStream: false),
            "data on stream 0" => connection.WriteFrameAsync(FrameType.Data, 0, 0, new byte[1]),
            "window update on an idle stream" => connection.WriteWindowUpdateAsync(5, 1),
            "continuation without a block" => connection.WriteFrameAsync(FrameType.Continuation, FrameFlags.EndHeaders, 1, Array.Empty<byte>()),
            _ => connection.WriteFrameAsync(FrameType.PushPromise, FrameFlags.EndHeaders, 1, new byte[4]),
        });

        var goAway = await ServerAnswer.ReadGoAwayThenCloseAsync(connection);
        Assert.NotNull(goAway);
        Assert.Equal((int)Http2ErrorCode.ProtocolError, goAway.ErrorCode);
    }

    [Fact]
    [Trait("case", "H2-03")]
    public async Task H2_03_window_update_zero_resets_the_stream_and_on_the_connection_is_goaway()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();
        await connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", upstream.Authority)], endStream: false);
        Assert.Equal(ServerAnswer.Status(200), await ServerAnswer.ReadAsync(connection, 1));
        using var accepted = await upstream.AcceptAsync(Deadline);

        await connection.WriteWindowUpdateAsync(1, 0);
        Assert.Equal(ServerAnswer.Reset((int)Http2ErrorCode.ProtocolError), await ServerAnswer.ReadAsync(connection, 1));

        await connection.WriteWindowUpdateAsync(0, 0);
        var goAway = await ServerAnswer.ReadGoAwayThenCloseAsync(connection);
        Assert.NotNull(goAway);
        Assert.Equal((int)Http2ErrorCode.ProtocolError, goAway.ErrorCode);
        Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(goAway.Payload) & int.MaxValue);
    }

    [Fact]
    [Trait("case", "H2-02")]
    public async Task H2_02_connection_window_above_2_31_is_goaway_flow_control_error()
    {
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();

        await connection.WriteWindowUpdateAsync(0, int.MaxValue);

        var goAway = await ServerAnswer.ReadGoAwayThenCloseAsync(connection);
        Assert.NotNull(goAway);
        Assert.Equal((int)Http2ErrorCode.FlowControlError, goAway.ErrorCode);
    }

    [Theory]
    [Trait("case", "H2-03")]
    [InlineData(false)]
    [InlineData(true)]
    public async Task H2_03_data_after_the_peers_end_stream_is_rst_stream_closed(bool upstreamEchoes)
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        if (upstreamEchoes)
        {
            _ = upstream.RunEchoAsync(stop.Token);
        }

        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();
        await connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", upstream.Authority)], endStream: false);
        Assert.Equal(ServerAnswer.Status(200), await ServerAnswer.ReadAsync(connection, 1));
        await connection.WriteFrameAsync(FrameType.Data, FrameFlags.EndStream, 1, new byte[] { 1 });
        if (upstreamEchoes)
        {
            // The echo ends the server's side too: the stream is fully closed before the stray DATA.
            using var cts = new CancellationTokenSource(Deadline);
            await connection.ReadUntilAsync(f => f.StreamId == 1 && f.Type == FrameType.Data && f.HasFlag(FrameFlags.EndStream), cts.Token);
        }

        await connection.WriteFrameAsync(FrameType.Data, 0, 1, new byte[] { 2 });

        Assert.Equal(ServerAnswer.Reset((int)Http2ErrorCode.StreamClosed), await ServerAnswer.ReadAsync(connection, 1));
    }

    [Fact]
    [Trait("case", "H2-05")]
    public async Task H2_05_a_header_block_above_twice_the_header_limit_is_goaway_enhance_your_calm()
    {
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();

        // One HEADERS frame within SETTINGS_MAX_FRAME_SIZE, but above 2 x 64 KiB of compressed block.
        await connection.WriteFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 1, new byte[200 * 1024]);

        var goAway = await ServerAnswer.ReadGoAwayThenCloseAsync(connection);
        Assert.NotNull(goAway);
        Assert.Equal((int)Http2ErrorCode.EnhanceYourCalm, goAway.ErrorCode);
    }

    [Fact]
    [Trait("case", "H2-13")]
    public async Task H2_13_a_peer_that_never_reads_loses_its_connection_and_the_tunnel_ends()
    {
        await using var server = await HboneTestServer.StartAsync(
            o =>
            {
                o.KeepAlivePingDelay = TimeSpan.FromMilliseconds(200);
                o.KeepAlivePingTimeout = TimeSpan.FromMilliseconds(500);
            },
            handler: b => b.AddHandler(async ctx =>
            {
                var tunnel = await ctx.AcceptAsync();
                var chunk = new byte[64 * 1024];
                try
                {
                    while (!ctx.Aborted.IsCancellationRequested)
                    {
                        if ((await tunnel.Output.WriteAsync(chunk, ctx.Aborted)).IsCompleted)
                        {
                            break;
                        }
                    }
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException)
                {
                }

                ctx.SetOutcome(TunnelOutcome.Aborted);
            }));
        await using var connection = await server.ConnectAsync();

        // The client never reads: the server's output (DATA, then its PING) stays unsent.
        await connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", "127.0.0.1:9")], endStream: false);

        var log = await server.NextLogAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(200, log.StatusCode);
        Assert.Equal(TunnelOutcome.Aborted, log.Outcome);
    }
}
