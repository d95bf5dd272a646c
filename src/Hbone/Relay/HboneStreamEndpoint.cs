using System.Runtime.CompilerServices;
using System.Buffers;
using System.IO.Pipelines;
using Hbone.Client;
using Hbone.Http2;

namespace Hbone.Relay;

/// <summary>A client tunnel side of a relay: read from its pipe without a copy, written as DATA frames.</summary>
internal sealed class HboneStreamEndpoint(HboneStream stream) : RelayEndpoint
{
    internal override PipeReader? Reader => stream.Input;

    internal override PipeWriter? Writer => null;

    internal override TunnelOutcome ResetOutcome => TunnelOutcome.PeerReset;

    // Pooled state machine: a send that completes later allocates nothing in steady state.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal override async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        return true;
    }

    // Pooled state machine: a send that completes later allocates nothing in steady state.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal override async ValueTask<bool> SendAsync(ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        foreach (var segment in buffer)
        {
            await stream.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    internal override ValueTask CompleteWritesAsync(CancellationToken cancellationToken) => stream.CompleteWritesAsync(cancellationToken);

    internal override TunnelOutcome? Classify(Exception exception) => exception switch
    {
        HboneException => TunnelOutcome.PeerReset,
        ObjectDisposedException => TunnelOutcome.Aborted,
        _ => null,
    };

    // RFC 9113 §8.5: a reset TCP side is reported as CONNECT_ERROR, never as a clean end or a plain cancel.
    internal override void Fail(TunnelOutcome outcome) =>
        stream.Abort(outcome == TunnelOutcome.UpstreamReset ? Http2ErrorCode.ConnectError : Http2ErrorCode.Cancel);
}
