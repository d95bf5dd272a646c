using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using System.Threading.Tasks.Sources;

namespace Hbone.Http2;

/// <summary>
/// A stream's received DATA for its one reader: what <see cref="Pipe"/> did for a stream, without a pipe's objects.
/// The reader object is also its own pending read (no state machine per read), and an idle stream holds no array:
/// blocks are rented as DATA arrives and returned as the reader consumes it. Flow control bounds what it holds, so
/// the writer (the connection's read loop) never waits. Derived types learn what was consumed, for WINDOW_UPDATE.
/// </summary>
internal abstract partial class StreamInputBuffer : PipeReader, IValueTaskSource<ReadResult>
{
    private const int MinimumBlockSize = 4096;

    // Segment objects kept for reuse once their block went back: a busy stream allocates none per DATA frame.
    private const int SpareSegments = 4;

    private readonly PipeScheduler _scheduler;

    // The owner's monitor, not an object of its own: one fewer object per open stream.
    private readonly object _lock;

    private Segment? _head;
    private int _headIndex;
    private Segment? _tail;
    private Segment? _spare;
    private int _spareCount;
    private long _length;

    // The reader looked at everything up to the end: its next read waits for more.
    private bool _examinedAll;
    private bool _writerCompleted;
    private Exception? _failure;
    private bool _readerCompleted;
    private bool _cancelNextRead;

    // The one pending read.
    private bool _pending;
    private bool _signaled;
    private bool _signaledCanceled;
    private Exception? _signaledError;
    private short _version;
    private Action<object?>? _continuation;
    private object? _continuationState;
    private ExecutionContext? _executionContext;
    private CancellationTokenRegistration _registration;
    private CancellationToken _registeredToken;

    /// <summary>
    /// <paramref name="sync"/> is locked to guard the buffer: an internal object nothing else locks (the stream that owns
    /// the input), never one that code outside the buffer may lock while it calls into it.
    /// </summary>
    protected StreamInputBuffer(PipeScheduler scheduler, object sync)
    {
        _scheduler = scheduler;
        _lock = sync;
    }

    /// <summary>Bytes buffered and not consumed yet.</summary>
    public long Length
    {
        get
        {
            lock (_lock)
            {
                return _length;
            }
        }
    }

    /// <summary>The reader consumed <paramref name="count"/> bytes (called outside the buffer's lock).</summary>
    protected abstract void OnConsumed(long count);

    /// <summary>The reader completed; what it left unread was dropped (called outside the buffer's lock).</summary>
    protected abstract void OnReaderCompleted();

    /// <summary>Appends received DATA for the reader; dropped once the writer or the reader completed.</summary>
    public void Write(in ReadOnlySequence<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        Action<object?>? wake;
        object? state;
        lock (_lock)
        {
            if (_writerCompleted || _readerCompleted)
            {
                return;
            }

            foreach (var part in data)
            {
                AppendLocked(part.Span);
            }

            _length += data.Length;
            _examinedAll = false;
            wake = SignalLocked(canceled: false, error: null, out state);
        }

        Schedule(wake, state);
    }

    /// <summary>The end of the data (END_STREAM): the reader sees the end after what is buffered.</summary>
    public void CompleteWriting() => CompleteWriting(null);

    /// <summary>
    /// Ends the input abruptly (a reset): the next read throws <paramref name="failure"/>, even after a clean end
    /// was seen, and a pending read wakes with it.
    /// </summary>
    public void Fail(Exception failure) => CompleteWriting(failure);

    private void CompleteWriting(Exception? failure)
    {
        Action<object?>? wake;
        object? state;
        lock (_lock)
        {
            if (failure is null && _writerCompleted)
            {
                return;
            }

            _writerCompleted = true;
            _failure ??= failure;
            wake = SignalLocked(canceled: false, error: _failure, out state);
        }

        Schedule(wake, state);
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            ThrowIfReaderCompletedLocked();
            if (_pending)
            {
                throw new InvalidOperationException("A read is already pending on this stream.");
            }

            if (TryReadLocked(out var result))
            {
                return new ValueTask<ReadResult>(result);
            }

            cancellationToken.ThrowIfCancellationRequested();
            _pending = true;
            _signaled = false;
            _signaledCanceled = false;
            _signaledError = null;
            var version = ++_version;
            if (cancellationToken.CanBeCanceled)
            {
                _registeredToken = cancellationToken;
                _registration = cancellationToken.UnsafeRegister(static (state, token) => ((StreamInputBuffer)state!).OnReadCanceled(token), this);
            }

            return new ValueTask<ReadResult>(this, version);
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        lock (_lock)
        {
            ThrowIfReaderCompletedLocked();
            if (_pending)
            {
                throw new InvalidOperationException("A read is already pending on this stream.");
            }

            return TryReadLocked(out result);
        }
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        long count;
        lock (_lock)
        {
            if (_readerCompleted)
            {
                return;
            }

            count = ConsumeLocked(consumed);
            _examinedAll = _length == 0 || (ReferenceEquals(examined.GetObject(), _tail) && examined.GetInteger() == _tail!.Used);
        }

        if (count > 0)
        {
            OnConsumed(count);
        }
    }

    public override void CancelPendingRead()
    {
        Action<object?>? wake;
        object? state;
        lock (_lock)
        {
            if (!_pending || _signaled)
            {
                _cancelNextRead = true;
                return;
            }

            wake = SignalLocked(canceled: true, error: null, out state);
        }

        Schedule(wake, state);
    }

    public override void Complete(Exception? exception = null)
    {
        lock (_lock)
        {
            if (_readerCompleted)
            {
                return;
            }

            _readerCompleted = true;
            ReleaseAllLocked();
        }

        OnReaderCompleted();
    }

    private bool TryReadLocked(out ReadResult result)
    {
        if (_failure is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        if (_cancelNextRead)
        {
            _cancelNextRead = false;
            result = new ReadResult(BufferLocked(), isCanceled: true, isCompleted: _writerCompleted);
            return true;
        }

        if ((_length > 0 && !_examinedAll) || _writerCompleted)
        {
            result = new ReadResult(BufferLocked(), isCanceled: false, isCompleted: _writerCompleted);
            return true;
        }

        result = default;
        return false;
    }

    private ReadOnlySequence<byte> BufferLocked() =>
        _head is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_head, _headIndex, _tail!, _tail!.Used);

    private void ThrowIfReaderCompletedLocked()
    {
        if (_readerCompleted)
        {
            throw new InvalidOperationException("The stream's reader was completed.");
        }
    }
}
