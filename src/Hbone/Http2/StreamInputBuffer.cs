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
internal abstract class StreamInputBuffer : PipeReader, IValueTaskSource<ReadResult>
{
    private const int MinimumBlockSize = 4096;

    // Segment objects kept for reuse once their block went back: a busy stream allocates none per DATA frame.
    private const int SpareSegments = 4;

    private readonly PipeScheduler _scheduler;
    private readonly Lock _lock = new();

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

    protected StreamInputBuffer(PipeScheduler scheduler) => _scheduler = scheduler;

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

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token)
    {
        lock (_lock)
        {
            if (token != _version || !_pending || !_signaled)
            {
                throw new InvalidOperationException("The read was already awaited, or is not complete.");
            }

            _pending = false;

            // Unregister, not Dispose: Dispose would wait for a callback that is itself waiting for this lock.
            _registration.Unregister();
            _registration = default;
            _registeredToken = default;
            if (_signaledError is { } error)
            {
                ExceptionDispatchInfo.Throw(error);
            }

            if (_signaledCanceled)
            {
                return new ReadResult(BufferLocked(), isCanceled: true, isCompleted: _writerCompleted && _failure is null);
            }

            if (TryReadLocked(out var result))
            {
                return result;
            }

            // Not reached: a wake-up always leaves data, an end, a cancel or a failure to see.
            return new ReadResult(BufferLocked(), isCanceled: false, isCompleted: _writerCompleted);
        }
    }

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token)
    {
        lock (_lock)
        {
            if (token != _version || !_signaled)
            {
                return ValueTaskSourceStatus.Pending;
            }

            return _signaledError switch
            {
                null => ValueTaskSourceStatus.Succeeded,
                OperationCanceledException => ValueTaskSourceStatus.Canceled,
                _ => ValueTaskSourceStatus.Faulted,
            };
        }
    }

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        lock (_lock)
        {
            if (token != _version)
            {
                throw new InvalidOperationException("The read was already awaited.");
            }

            if (!_signaled)
            {
                _continuation = continuation;
                _continuationState = state;
                _executionContext = (flags & ValueTaskSourceOnCompletedFlags.FlowExecutionContext) != 0 ? ExecutionContext.Capture() : null;
                return;
            }
        }

        // Completed before the awaiter registered: run it now, through the scheduler as any wake-up.
        if ((flags & ValueTaskSourceOnCompletedFlags.FlowExecutionContext) != 0 && ExecutionContext.Capture() is { } context)
        {
            _scheduler.Schedule(ContextRun.Invoke, new ContextRun(context, continuation, state));
            return;
        }

        _scheduler.Schedule(continuation, state);
    }

    private void OnReadCanceled(CancellationToken token)
    {
        Action<object?>? wake;
        object? state;
        lock (_lock)
        {
            // A late callback of an earlier read's token must not cancel this one.
            if (!_pending || _signaled || token != _registeredToken)
            {
                return;
            }

            wake = SignalLocked(canceled: false, error: new OperationCanceledException(token), out state);
        }

        Schedule(wake, state);
    }

    // Completes the pending read, if any and if it has something to see; returns its continuation to schedule.
    private Action<object?>? SignalLocked(bool canceled, Exception? error, out object? state)
    {
        state = null;
        if (!_pending || _signaled)
        {
            return null;
        }

        _signaled = true;
        _signaledCanceled = canceled;
        _signaledError = error;
        var continuation = _continuation;
        if (continuation is null)
        {
            return null;
        }

        _continuation = null;
        state = _continuationState;
        _continuationState = null;
        if (_executionContext is { } context)
        {
            _executionContext = null;
            state = new ContextRun(context, continuation, state);
            return ContextRun.Invoke;
        }

        return continuation;
    }

    private void Schedule(Action<object?>? continuation, object? state)
    {
        if (continuation is not null)
        {
            _scheduler.Schedule(continuation, state);
        }
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

    private void AppendLocked(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_tail is null || _tail.Free == 0)
            {
                var segment = RentSegmentLocked(data.Length);
                if (_tail is null)
                {
                    _head = _tail = segment;
                    _headIndex = 0;
                }
                else
                {
                    _tail.Link(segment);
                    _tail = segment;
                }
            }

            data = data[_tail.Append(data)..];
        }
    }

    private long ConsumeLocked(SequencePosition consumed)
    {
        if (_head is null)
        {
            return 0;
        }

        var target = consumed.GetObject() as Segment ?? _head;
        var index = consumed.GetInteger();
        var count = target.RunningIndex + index - (_head.RunningIndex + _headIndex);
        if (count <= 0)
        {
            return 0;
        }

        while (_head != target)
        {
            var next = (Segment)_head!.Next!;
            ReturnSegmentLocked(_head);
            _head = next;
        }

        _headIndex = index;
        _length -= count;
        if (_length == 0)
        {
            // Empty: the last block goes back too, so an idle stream holds no array.
            ReturnSegmentLocked(_head);
            _head = _tail = null;
            _headIndex = 0;
        }

        return count;
    }

    private void ReleaseAllLocked()
    {
        while (_head is not null)
        {
            var next = (Segment?)_head.Next;
            ReturnSegmentLocked(_head);
            _head = next;
        }

        _tail = null;
        _headIndex = 0;
        _length = 0;
    }

    private Segment RentSegmentLocked(int wanted)
    {
        var segment = _spare;
        if (segment is not null)
        {
            _spare = (Segment?)segment.Next;
            _spareCount--;
        }
        else
        {
            segment = new Segment();
        }

        segment.Rent(Math.Max(wanted, MinimumBlockSize), _tail is null ? 0 : _tail.RunningIndex + _tail.Used);
        return segment;
    }

    private void ReturnSegmentLocked(Segment segment)
    {
        segment.Release();
        if (_spareCount < SpareSegments)
        {
            segment.Link(_spare);
            _spare = segment;
            _spareCount++;
        }
    }

    private void ThrowIfReaderCompletedLocked()
    {
        if (_readerCompleted)
        {
            throw new InvalidOperationException("The stream's reader was completed.");
        }
    }

    /// <summary>One rented block in the chain; <see cref="Used"/> bytes of it hold data.</summary>
    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        private byte[] _block = [];

        public int Used { get; private set; }

        public int Free => _block.Length - Used;

        public void Rent(int size, long runningIndex)
        {
            _block = ArrayPool<byte>.Shared.Rent(size);
            Used = 0;
            RunningIndex = runningIndex;
            Memory = ReadOnlyMemory<byte>.Empty;
            Next = null;
        }

        public int Append(ReadOnlySpan<byte> data)
        {
            var count = Math.Min(data.Length, Free);
            data[..count].CopyTo(_block.AsSpan(Used));
            Used += count;
            Memory = _block.AsMemory(0, Used);
            return count;
        }

        public void Link(Segment? next) => Next = next;

        public void Release()
        {
            if (_block.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_block);
            }

            _block = [];
            Used = 0;
            Memory = ReadOnlyMemory<byte>.Empty;
            Next = null;
        }
    }

    /// <summary>A continuation that asked for its execution context to flow.</summary>
    private sealed class ContextRun(ExecutionContext context, Action<object?> continuation, object? state)
    {
        public static readonly Action<object?> Invoke = static run => ((ContextRun)run!).Run();

        private void Run() => ExecutionContext.Run(context, static self => ((ContextRun)self!).Continue(), this);

        private void Continue() => continuation(state);
    }
}
