using Hbone.Http2;
using Hbone.Relay;

namespace Hbone.Kestrel;

/// <summary>An accepted tunnel as a relay endpoint: Kestrel's request and response pipes, reset with RST_STREAM.</summary>
internal sealed class HboneTunnelEndpoint(HboneTunnel tunnel) : DuplexPipeEndpoint(tunnel.Input, tunnel.Output)
{
    protected override CancellationToken Aborted => tunnel.Aborted;

    protected override ValueTask CompleteOutputAsync() => new(tunnel.CompleteWritesAsync());

    protected override void OnFailed(TunnelOutcome outcome)
    {
        // RFC 9113 §8.5: a reset TCP connection is reported as CONNECT_ERROR; other failures already ended the stream.
        if (outcome == TunnelOutcome.UpstreamReset)
        {
            tunnel.Reset(Http2ErrorCode.ConnectError);
        }
    }

    protected override bool OnInputCompleted()
    {
        if (tunnel.PeerSentTrailers)
        {
            // RFC 9113 §8.5: a HEADERS frame on a connected stream is a stream error, not a half-close.
            tunnel.Reset(Http2ErrorCode.ProtocolError);
            return false;
        }

        return true;
    }
}
