using System.IO.Pipelines;
using Hbone.Relay;

namespace Hbone.Tests.Relay;

/// <summary>
/// A duplex-pipe endpoint standing in for a server tunnel: the test writes the peer's data into <see cref="FromPeer"/>,
/// reads what the relay sends to the peer from <see cref="ToPeer"/>, and sees the relay's half-close and resets.
/// </summary>
internal sealed class TestPipeEndpoint : DuplexPipeEndpoint
{
    private readonly CancellationTokenSource _aborted;
    private readonly TaskCompletionSource<TunnelOutcome> _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TestPipeEndpoint(Pipe fromPeer, Pipe toPeer)
        : base(fromPeer.Reader, toPeer.Writer)
    {
        FromPeer = fromPeer.Writer;
        ToPeer = toPeer.Reader;
        _aborted = new CancellationTokenSource();
    }

    /// <summary>The peer's side: written data reaches the relay; completing it is the peer's END_STREAM.</summary>
    public PipeWriter FromPeer { get; }

    /// <summary>What the relay sent to the peer; completes at the relay's half-close.</summary>
    public PipeReader ToPeer { get; }

    /// <summary>The outcome the relay failed this endpoint with (a reset sent to the peer).</summary>
    public Task<TunnelOutcome> Failed => _failed.Task;

    protected override CancellationToken Aborted => _aborted.Token;

    public static TestPipeEndpoint Create() =>
        new(new Pipe(new PipeOptions(useSynchronizationContext: false)), new Pipe(new PipeOptions(useSynchronizationContext: false)));

    /// <summary>The peer resets the stream.</summary>
    public void PeerReset() => _aborted.Cancel();

    public async Task<byte[]> ReadToEndAsync()
    {
        using var received = new MemoryStream();
        while (true)
        {
            var result = await ToPeer.ReadAsync().AsTask().WaitAsync(Loopback.Deadline);
            foreach (var segment in result.Buffer)
            {
                received.Write(segment.Span);
            }

            ToPeer.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return received.ToArray();
            }
        }
    }

    protected override ValueTask CompleteOutputAsync() => Output.CompleteAsync();

    protected override void OnFailed(TunnelOutcome outcome) => _failed.TrySetResult(outcome);
}
