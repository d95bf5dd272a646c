using System.IO.Pipelines;

namespace Hbone.Http2;

/// <summary>
/// The reader scheduler of one connection's per-stream receive pipes. Without inline scheduling it is the thread
/// pool, as before. With it, the wake-ups a read loop causes while it parses one read are held until that read's
/// frames are processed (no lock held any more) and then run on the loop's thread when the read was small, which
/// saves the thread-pool hop (a futex wake and a context switch) per exchange; a bulk read still goes to the thread
/// pool, so decrypting the next record and writing this one to a socket keep overlapping.
/// </summary>
internal sealed class StreamReaderScheduler : PipeScheduler
{
    /// <summary>Reads up to this size wake their readers inline: a request or response, not a bulk record.</summary>
    internal const int InlineReadLimit = 8 * 1024;

    private readonly bool _preferInline;
    private int _loopThreadId;
    private Action<object?>? _firstAction;
    private object? _firstState;
    private List<(Action<object?> Action, object? State)>? _more;

    public StreamReaderScheduler(bool preferInline) => _preferInline = preferInline;

    public override void Schedule(Action<object?> action, object? state)
    {
        // Only the read loop's own wake-ups are held; a completion from any other thread (an abort) goes out at once.
        if (_loopThreadId != 0 && _loopThreadId == Environment.CurrentManagedThreadId)
        {
            if (_firstAction is null)
            {
                _firstAction = action;
                _firstState = state;
            }
            else
            {
                (_more ??= []).Add((action, state));
            }

            return;
        }

        System.Threading.ThreadPool.UnsafeQueueUserWorkItem(action, state, preferLocal: false);
    }

    /// <summary>The read loop starts parsing one read: its wake-ups are held from here.</summary>
    public void BeginRead()
    {
        if (_preferInline)
        {
            _loopThreadId = Environment.CurrentManagedThreadId;
        }
    }

    /// <summary>
    /// The read loop is done with one read (locks released): runs the held wake-ups inline when the read carried
    /// at most <see cref="InlineReadLimit"/> bytes, else hands them to the thread pool.
    /// </summary>
    public void EndRead(long bytesRead)
    {
        if (_loopThreadId == 0)
        {
            return;
        }

        _loopThreadId = 0;
        if (_firstAction is not { } action)
        {
            return;
        }

        var state = _firstState;
        _firstAction = null;
        _firstState = null;
        var inline = bytesRead <= InlineReadLimit;
        Run(action, state, inline);
        if (_more is { Count: > 0 } more)
        {
            // Nothing is added while these run: with the loop's thread id cleared, new wake-ups go to the pool.
            foreach (var (a, s) in more)
            {
                Run(a, s, inline);
            }

            more.Clear();
        }
    }

    private static void Run(Action<object?> action, object? state, bool inline)
    {
        if (inline)
        {
            action(state);
        }
        else
        {
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(action, state, preferLocal: false);
        }
    }
}
