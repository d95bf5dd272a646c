using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using System.Threading.Tasks.Sources;

namespace Hbone.Http2;

/// <summary>The one pending read: the buffer itself is the read's <see cref="IValueTaskSource{TResult}"/>.</summary>
internal abstract partial class StreamInputBuffer
{
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

    /// <summary>A continuation that asked for its execution context to flow.</summary>
    private sealed class ContextRun(ExecutionContext context, Action<object?> continuation, object? state)
    {
        public static readonly Action<object?> Invoke = static run => ((ContextRun)run!).Run();

        private void Run() => ExecutionContext.Run(context, static self => ((ContextRun)self!).Continue(), this);

        private void Continue() => continuation(state);
    }
}
