using System.Buffers;
using System.IO.Pipelines;
using Hbone.Http2;

namespace Hbone.Client;

/// <summary>The stream's receive pipe, returning flow-control credit for exactly what the application consumes.</summary>
internal sealed class TunnelInputReader : PipeReader
{
    private readonly Http2ClientStream _stream;
    private readonly Action<int> _onConsumed;
    private ReadOnlySequence<byte> _last;

    public TunnelInputReader(Http2ClientStream stream, Action<int> onConsumed)
    {
        _stream = stream;
        _onConsumed = onConsumed;
    }

    private PipeReader Inner => _stream.Input;

    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        var result = await Inner.ReadAsync(cancellationToken).ConfigureAwait(false);
        _last = result.Buffer;
        return result;
    }

    public override bool TryRead(out ReadResult result)
    {
        if (Inner.TryRead(out result))
        {
            _last = result.Buffer;
            return true;
        }

        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        var count = (int)_last.Slice(_last.Start, consumed).Length;
        _last = default;
        Inner.AdvanceTo(consumed, examined);
        if (count > 0)
        {
            _stream.OnConsumed(count);
            _onConsumed(count);
        }
    }

    public override void CancelPendingRead() => Inner.CancelPendingRead();

    public override void Complete(Exception? exception = null)
    {
        Inner.Complete(exception);
        _stream.OnInputCompleted();
    }
}
