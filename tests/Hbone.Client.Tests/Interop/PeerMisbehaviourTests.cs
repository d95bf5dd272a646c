using Hbone.Client.Tests.Infrastructure;
using Hbone.Http2;
using Hbone.Interop.Peers;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Interop;

/// <summary>FZ-01 (a): the python3-h2 peer's fault modes, sent after the first 200, into our client's frame reader.</summary>
public sealed class PeerMisbehaviourTests
{
    private static readonly TimeSpan ReadDeadline = TimeSpan.FromSeconds(20);

    [Theory]
    [Trait("case", "FZ-01")]
    [InlineData("bad-frame-size", Http2ErrorCode.FrameSizeError, false)]
    [InlineData("window-overflow", Http2ErrorCode.FlowControlError, false)]
    [InlineData("window-overflow-stream", Http2ErrorCode.FlowControlError, true)]
    [InlineData("unknown-stream-data", Http2ErrorCode.ProtocolError, false)]
    [InlineData("bad-hpack", Http2ErrorCode.CompressionError, false)]
    [InlineData("settings-bad-length", Http2ErrorCode.FrameSizeError, false)]
    [InlineData("ping-bad-length", Http2ErrorCode.FrameSizeError, false)]
    [InlineData("continuation-flood", Http2ErrorCode.EnhanceYourCalm, false)]
    public async Task FZ01_peer_fault_mode_ends_the_tunnel_with_the_exact_HTTP2_error(string mode, Http2ErrorCode code, bool streamError)
    {
        var error = await RunAsync(mode);

        if (streamError)
        {
            Assert.Equal(code, Assert.IsType<Http2StreamResetException>(error).ErrorCode);
        }
        else
        {
            Assert.IsType<HboneException>(error);
            Assert.Equal(HboneErrorReason.ConnectionFailed, error.Reason);
            Assert.Equal(code, Assert.IsType<Http2ProtocolException>(error.InnerException).ErrorCode);
        }
    }

    [Fact]
    [Trait("case", "FZ-01")]
    [Trait("case", "H2-21")]
    public async Task FZ01_silent_peer_is_dropped_by_the_keep_alive_PING()
    {
        var error = await RunAsync("silent");

        Assert.IsType<HboneException>(error);
        Assert.Equal(HboneErrorReason.ConnectionFailed, error.Reason);
        Assert.Contains("PING", error.Message);
    }

    [Theory]
    [Trait("case", "FZ-01")]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public async Task FZ01_random_frames_from_the_peer_end_in_a_typed_error(int seed)
    {
        var error = await RunAsync("random", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.True(error.GetType() == typeof(HboneException) || error is Http2StreamResetException, $"unexpected {error.GetType()}: {error}");
    }

    /// <summary>Opens a tunnel, waits for the fault, and returns how the tunnel's read ended.</summary>
    private static async Task<HboneException> RunAsync(string mode, params string[] extra)
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var peer = await PeerServer.StartAsync(PeerKind.Python, TestPki.Shared.Server, TestPki.Shared.Ca, ["--misbehave", mode, "--flood-seconds", "5", .. extra]);
        await using var client = ClientFixture.CreateClient(o =>
        {
            o.KeepAlivePingDelay = TimeSpan.FromSeconds(1);
            o.KeepAlivePingTimeout = TimeSpan.FromSeconds(2);
        });

        await using var tunnel = await client.OpenAsync(ClientFixture.Request(peer.EndPoint, upstream.EndPoint));
        var buffer = new byte[4096];
        for (var i = 0; i < 1000; i++)
        {
            int read;
            try
            {
                read = await tunnel.ReadAsync(buffer).AsTask().WaitAsync(ReadDeadline);
            }
            catch (HboneException ex)
            {
                return ex;
            }

            Assert.True(read > 0, $"the tunnel ended cleanly although the peer misbehaved ({mode})");
        }

        throw new Xunit.Sdk.XunitException($"the tunnel kept delivering data although the peer misbehaved ({mode})");
    }
}
