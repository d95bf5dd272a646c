using System.Runtime.CompilerServices;
using System.Buffers;
using System.IO.Pipelines;

namespace Hbone.Relay;

/// <summary>
/// A relay side made of two pipes, such as a server-side HBONE tunnel: data is read from <see cref="Input"/>
/// segments without a copy and received straight into <see cref="Output"/>'s memory. Derive to say how the
/// endpoint half-closes, resets and signals a peer reset.
/// </summary>
public abstract class DuplexPipeEndpoint : RelayEndpoint
{
    /// <summary>Creates the endpoint over <paramref name="input"/> (data from the peer) and <paramref name="output"/> (data to the peer).</summary>
    protected DuplexPipeEndpoint(PipeReader input, PipeWriter output)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        Input = input;
        Output = output;
    }

    /// <summary>Data from the peer; its completion is the peer's half-close.</summary>
    public PipeReader Input { get; }

    /// <summary>Data to the peer.</summary>
    public PipeWriter Output { get; }

    /// <summary>Cancelled when the peer resets the endpoint (the relay then reports <see cref="TunnelOutcome.PeerReset"/>).</summary>
    protected virtual CancellationToken Aborted => default;

    internal sealed override PipeReader? Reader => Input;

    internal sealed override PipeWriter? Writer => Output;

    internal sealed override TunnelOutcome ResetOutcome => TunnelOutcome.PeerReset;

    internal sealed override CancellationToken PeerAborted => Aborted;

    /// <summary>Half-closes towards the peer (for HTTP/2, END_STREAM); the peer may keep sending.</summary>
    protected abstract ValueTask CompleteOutputAsync();

    /// <summary>
    /// Called once when the relay fails. <see cref="TunnelOutcome.UpstreamReset"/> means the other side's TCP
    /// connection was reset: an HTTP/2 endpoint resets its stream with CONNECT_ERROR (RFC 9113 §8.5).
    /// </summary>
    protected abstract void OnFailed(TunnelOutcome outcome);

    // Pooled state machine: a send that completes later allocates nothing in steady state.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal sealed override async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        var flush = await Output.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        return !flush.IsCompleted && !flush.IsCanceled;
    }

    internal sealed override ValueTask<bool> SendAsync(ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        // Pipe to pipe needs one copy: the reader's segments are released as soon as this returns.
        foreach (var segment in buffer)
        {
            segment.Span.CopyTo(Output.GetSpan(segment.Length));
            Output.Advance(segment.Length);
        }

        return CommitAsync(0, cancellationToken);
    }

    // Pooled state machine: a send that completes later allocates nothing in steady state.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal sealed override async ValueTask<bool> CommitAsync(int count, CancellationToken cancellationToken)
    {
        if (count > 0)
        {
            Output.Advance(count);
        }

        var flush = await Output.FlushAsync(cancellationToken).ConfigureAwait(false);
        return !flush.IsCompleted && !flush.IsCanceled;
    }

    internal sealed override ValueTask CompleteWritesAsync(CancellationToken cancellationToken) => CompleteOutputAsync();

    internal sealed override TunnelOutcome? Classify(Exception exception) => exception switch
    {
        // Cancellation (including Kestrel's ConnectionAbortedException) is the relay's call: peer reset or local abort.
        OperationCanceledException => null,
        // A completed or disposed pipe means the peer side went away (ObjectDisposedException is an InvalidOperationException).
        IOException or InvalidOperationException or HboneException => TunnelOutcome.PeerReset,
        _ => null,
    };

    internal sealed override void Fail(TunnelOutcome outcome) => OnFailed(outcome);
}
