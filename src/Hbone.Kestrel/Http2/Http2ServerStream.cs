using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using Hbone.Http2;
using Microsoft.AspNetCore.Connections;

namespace Hbone.Kestrel.Http2;

/// <summary>
/// One client-initiated stream. State fields are guarded by the connection's lock; the request is handled on
/// the thread pool (<see cref="IThreadPoolWorkItem"/>) so that the read loop never waits for an application.
/// </summary>
internal sealed class Http2ServerStream : IThreadPoolWorkItem
{
    private readonly CancellationTokenSource _aborted = new();
    private TaskCompletionSource? _windowWaiter;

    public Http2ServerStream(Http2ServerConnection connection, int id, PipeScheduler inputScheduler, int receiveWindow, int sendWindow)
    {
        Connection = connection;
        Id = id;
        ReceiveWindow = receiveWindow;
        SendWindow = sendWindow;
        Started = Stopwatch.GetTimestamp();

        Input = new Http2StreamInput(this, inputScheduler);
        Output = new Http2StreamOutput(this);
    }

    public Http2ServerConnection Connection { get; }

    public int Id { get; }

    public long Started { get; }

    public Http2StreamInput Input { get; }

    public Http2StreamOutput Output { get; }

    public CancellationToken Aborted => _aborted.Token;

    public string? Method { get; set; }

    public string? Authority { get; set; }

    public IReadOnlyList<KeyValuePair<string, string>> Fields { get; set; } = [];

    // Guarded by the connection lock from here on.
    public int ReceiveWindow { get; set; }

    public int ReceiveUnacknowledged { get; set; }

    public long Unconsumed { get; set; }

    public long SendWindow { get; set; }

    /// <summary>DATA frames sent that no WINDOW_UPDATE answered yet: updates up to this count are not abuse.</summary>
    public int DataFramesUnanswered { get; set; }

    /// <summary>True once response HEADERS were sent: a reset after that is a tunnel ending, not a rapid reset.</summary>
    public bool Answered { get; set; }

    public bool RemoteClosed { get; private set; }

    public bool LocalClosed { get; set; }

    public bool IsReset { get; private set; }

    public bool Removed { get; set; }

    public bool InputDetached { get; private set; }

    /// <summary>Copies DATA payload into the stream's pipe (connection lock held, read loop only).</summary>
    public void WriteInputLocked(in ReadOnlySequence<byte> data)
    {
        // Never waits: flow control already bounds what the input holds.
        Input.Write(data);
        Unconsumed += data.Length;
    }

    /// <summary>The peer's END_STREAM: the consumer sees the end of input after what is buffered.</summary>
    public void CompleteRemoteLocked()
    {
        RemoteClosed = true;
        if (!InputDetached)
        {
            Input.CompleteWriting();
        }
    }

    /// <summary>
    /// Ends the stream abruptly (a reset either way, or the connection going away): the consumer's next read
    /// fails, writes report completion, waiters wake, and <see cref="Aborted"/> is cancelled off the lock.
    /// Returns the payload still buffered, which the connection window gets back.
    /// </summary>
    public long AbortLocked(Exception reason)
    {
        if (IsReset)
        {
            return 0;
        }

        IsReset = true;
        long dropped = DetachInputLocked(reason);
        WakeWindowWaiterLocked();

        // Cancellation callbacks run application code: never under the connection lock.
        ThreadPool.UnsafeQueueUserWorkItem(static cts => Cancel(cts), _aborted, preferLocal: false);
        return dropped;
    }

    /// <summary>Stops accepting input (the consumer completed its reader, or a reset); returns the payload dropped.</summary>
    public long DetachInputLocked(Exception? reason)
    {
        if (InputDetached)
        {
            return 0;
        }

        InputDetached = true;
        if (reason is not null)
        {
            // Also after END_STREAM: a reset must not read as a clean end.
            Input.Fail(reason);
        }
        else
        {
            Input.CompleteWriting();
        }

        var dropped = Unconsumed;
        Unconsumed = 0;
        return dropped;
    }

    public Task WaitForWindowLocked()
    {
        var waiter = _windowWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return waiter.Task;
    }

    public void WakeWindowWaiterLocked()
    {
        var waiter = _windowWaiter;
        if (waiter is not null)
        {
            _windowWaiter = null;
            waiter.TrySetResult();
        }
    }

    void IThreadPoolWorkItem.Execute() => _ = Connection.Dispatcher.ProcessAsync(this);

    /// <summary>Resets the stream from the application side with <paramref name="code"/>.</summary>
    public void Reset(Http2ErrorCode code) => Connection.ResetStream(this, code);

    private static void Cancel(CancellationTokenSource cts)
    {
        try
        {
            cts.Cancel();
        }
        catch (AggregateException)
        {
            // A failing callback of the application must not take the thread pool down.
        }
    }

    internal static Exception PeerResetException(Http2ErrorCode code) => new IOException($"The peer reset the stream ({code}).");

    internal static Exception LocalResetException(Http2ErrorCode code) => new ConnectionAbortedException($"The stream was reset ({code}).");
}
