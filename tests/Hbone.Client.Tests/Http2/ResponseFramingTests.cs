using System.Buffers.Binary;
using System.Net;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Http2;
using Hbone.Protocol;
using static Hbone.Client.Tests.Infrastructure.RawH2Server;

namespace Hbone.Client.Tests.Http2;

/// <summary>Our HTTP/2 client against a scripted server: legal but unusual framing, refusals and limits.</summary>
public sealed class ResponseFramingTests
{
    private static readonly byte[] Status200 = [0x88];

    private static Hbone.Client.HboneRequest Request(IPEndPoint server) => new()
    {
        Destination = server,
        Authority = HboneAuthority.Parse("10.244.0.9:8080"),
        ExpectedIdentities = [ClientFixture.ServerId],
    };

    [Fact]
    [Trait("case", "H2-04")]
    public async Task H204_interim_100_then_200_split_into_CONTINUATION_then_padded_DATA_arrive_intact()
    {
        await using var server = new RawH2Server(async c =>
        {
            await c.WriteSettingsAsync();
            var headers = await c.ReadUntilAsync(Headers);
            await c.WriteAsync(Headers, EndHeaders, headers.StreamId, [0x08, 0x03, .. "100"u8]); // literal :status 100
            byte[] block = [0x88, 0x40, 0x07, .. "baggage"u8, 0x0b, .. "app=example"u8];
            await c.WriteAsync(Headers, 0, headers.StreamId, block.AsSpan(0, 3));
            await c.WriteAsync(Continuation, 0, headers.StreamId, block.AsSpan(3, 5));
            await c.WriteAsync(Continuation, EndHeaders, headers.StreamId, block.AsSpan(8));
            await c.WriteAsync(Data, Padded, headers.StreamId, [3, .. "hello"u8, 0, 0, 0]);
            await c.WriteAsync(Data, EndStream, headers.StreamId, " world"u8);
            await c.DrainAsync();
        });
        await using var client = ClientFixture.CreateClient();

        await using var tunnel = await client.OpenAsync(Request(server.EndPoint));

        Assert.Equal("app=example", tunnel.ResponseHeaders.Single(h => h.Key == "baggage").Value);
        Assert.Equal("hello world"u8.ToArray(), await Tunnels.ReadToEndAsync(tunnel).WaitAsync(ClientFixture.Deadline));
        Assert.Null(server.ScriptFailure);
    }

    [Fact]
    [Trait("case", "FT-06")]
    public async Task FT06_GOAWAY_below_the_open_stream_is_retried_on_a_new_connection_transparently()
    {
        await using var server = new RawH2Server(async c =>
        {
            await c.WriteSettingsAsync();
            var headers = await c.ReadUntilAsync(Headers);
            if (c.Index == 1)
            {
                await c.WriteGoAwayAsync(0, 0); // graceful, but stream 1 was never processed
                await c.DrainAsync();
                return;
            }

            await c.WriteAsync(Headers, EndHeaders | EndStream, headers.StreamId, Status200);
            await c.DrainAsync();
        });
        await using var client = ClientFixture.CreateClient();

        await using var tunnel = await client.OpenAsync(Request(server.EndPoint));

        Assert.Equal(0, await tunnel.ReadAsync(new byte[1]).AsTask().WaitAsync(ClientFixture.Deadline));
        Assert.Equal(2, server.Accepted);
    }

    [Fact]
    [Trait("case", "H2-14")]
    public async Task H214_REFUSED_STREAM_is_retried_and_succeeds_on_the_next_stream()
    {
        var streamIds = new List<int>();
        await using var server = new RawH2Server(async c =>
        {
            await c.WriteSettingsAsync();
            var first = await c.ReadUntilAsync(Headers);
            streamIds.Add(first.StreamId);
            await c.WriteRstStreamAsync(first.StreamId, (int)Http2ErrorCode.RefusedStream);
            var second = await c.ReadUntilAsync(Headers);
            streamIds.Add(second.StreamId);
            await c.WriteAsync(Headers, EndHeaders | EndStream, second.StreamId, Status200);
            await c.DrainAsync();
        });
        await using var client = ClientFixture.CreateClient();

        await using var tunnel = await client.OpenAsync(Request(server.EndPoint));

        Assert.Equal(0, await tunnel.ReadAsync(new byte[1]).AsTask().WaitAsync(ClientFixture.Deadline));
        Assert.Equal([1, 3], streamIds);
        Assert.Equal(1, server.Accepted);
    }

    [Fact]
    [Trait("case", "CON-12")]
    public async Task CON12_trailers_on_an_established_tunnel_reset_the_stream_with_PROTOCOL_ERROR()
    {
        var reset = new TaskCompletionSource<RawFrame>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new RawH2Server(async c =>
        {
            await c.WriteSettingsAsync();
            var headers = await c.ReadUntilAsync(Headers);
            await c.WriteAsync(Headers, EndHeaders, headers.StreamId, Status200);
            await c.WriteAsync(Data, 0, headers.StreamId, "abc"u8);
            await c.WriteAsync(Headers, EndHeaders | EndStream, headers.StreamId, [0x40, 0x01, (byte)'x', 0x01, (byte)'y']);
            reset.TrySetResult(await c.ReadUntilAsync(RstStream));
            await c.DrainAsync();
        });
        await using var client = ClientFixture.CreateClient();
        await using var tunnel = await client.OpenAsync(Request(server.EndPoint));

        // "abc" may be read before the reset, or dropped with it; the reads must end in the reset, not a clean end.
        var error = await Assert.ThrowsAsync<Http2StreamResetException>(async () =>
        {
            var received = 0;
            for (var i = 0; i < 4; i++)
            {
                var read = await tunnel.ReadAsync(new byte[16]).AsTask().WaitAsync(ClientFixture.Deadline);
                Assert.NotEqual(0, read);
                received += read;
                Assert.InRange(received, 1, 3);
            }
        });

        Assert.Equal(Http2ErrorCode.ProtocolError, error.ErrorCode);
        var rst = await reset.Task.WaitAsync(ClientFixture.Deadline);
        Assert.Equal((int)Http2ErrorCode.ProtocolError, BinaryPrimitives.ReadInt32BigEndian(rst.Payload));
    }

    [Fact]
    [Trait("case", "CON-13")]
    public async Task CON13_refusals_with_a_body_give_their_connection_window_back()
    {
        // 20 refusals, each with 1 MiB of body the client never reads: 20 MiB against a 16 MiB connection window.
        // The server ignores the client's WINDOW_UPDATEs on purpose: a window not given back ends in FLOW_CONTROL_ERROR.
        await using var server = new RawH2Server(async c =>
        {
            await c.WriteSettingsAsync();
            // 16 KiB frames: the client advertises SETTINGS_MAX_FRAME_SIZE 16384.
            var chunk = new byte[16 * 1024];
            for (var i = 0; i < 21; i++)
            {
                var headers = await c.ReadUntilAsync(Headers);
                if (i < 20)
                {
                    await c.WriteAsync(Headers, EndHeaders, headers.StreamId, [0x08, 0x03, .. "400"u8]);
                    for (var j = 0; j < 64; j++)
                    {
                        await c.WriteAsync(Data, 0, headers.StreamId, chunk);
                    }

                    continue;
                }

                await c.WriteAsync(Headers, EndHeaders, headers.StreamId, Status200);
                await c.WriteAsync(Data, EndStream, headers.StreamId, "ok"u8);
            }

            await c.DrainAsync();
        });
        await using var client = ClientFixture.CreateClient();

        for (var i = 0; i < 20; i++)
        {
            var refused = await Assert.ThrowsAsync<Hbone.Client.HboneConnectException>(() => client.OpenAsync(Request(server.EndPoint)));
            Assert.Equal(400, refused.ResponseStatus);
            Assert.True(server.Accepted == 1, $"refusal {i}: the connection failed and was dialed again");
        }

        await using var tunnel = await client.OpenAsync(Request(server.EndPoint));
        Assert.Equal("ok"u8.ToArray(), await Tunnels.ReadToEndAsync(tunnel).WaitAsync(ClientFixture.Deadline));
        Assert.Equal(1, server.Accepted);
    }

    [Fact]
    [Trait("case", "H2-14")]
    public async Task H214_server_allowing_zero_concurrent_streams_fails_the_request_instead_of_dialing_without_end()
    {
        await using var server = new RawH2Server(async c =>
        {
            await c.WriteSettingsAsync((3, 0)); // SETTINGS_MAX_CONCURRENT_STREAMS = 0
            await c.DrainAsync();
        });
        await using var client = ClientFixture.CreateClient();

        var error = await Assert.ThrowsAsync<HboneException>(() => client.OpenAsync(Request(server.EndPoint), TimeSpan.FromSeconds(15)));

        Assert.Equal(HboneErrorReason.ConnectionFailed, error.Reason);
        Assert.Contains("SETTINGS_MAX_CONCURRENT_STREAMS", error.Message);
        Assert.Equal(1, server.Accepted);
    }
}
