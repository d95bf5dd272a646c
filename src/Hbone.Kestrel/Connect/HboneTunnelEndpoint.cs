using Hbone.Http2;
using Hbone.Relay;

namespace Hbone.Kestrel;

/// <summary>An accepted tunnel as a relay endpoint: the engine's stream pipes, reset with RST_STREAM.</summary>
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
}
