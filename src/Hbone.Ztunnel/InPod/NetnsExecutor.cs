using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Hbone.Ztunnel.InPod;

/// <summary>
/// A thread that lives in one pod's network namespace and creates sockets there on request. A socket keeps the
/// namespace it was created in, so only creation hops to this thread; all I/O runs anywhere afterwards.
/// </summary>
internal sealed partial class NetnsExecutor : IDisposable
{
    private const int CloneNewNet = 0x40000000;

    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Starts the thread and enters the namespace of <paramref name="netns"/>; throws when setns fails.</summary>
    public NetnsExecutor(SafeFileHandle netns, string name)
    {
        Name = name;
        _thread = new Thread(() => Run(netns)) { IsBackground = true, Name = $"netns {name}" };
        _thread.Start();
        _entered.Task.GetAwaiter().GetResult();
    }

    /// <summary>The pod this namespace belongs to (for messages).</summary>
    public string Name { get; }

    /// <summary>Runs <paramref name="create"/> inside the namespace and returns its result (rethrowing its exception).</summary>
    public T Invoke<T>(Func<T> create)
    {
        T? result = default;
        Exception? failure = null;
        using var done = new ManualResetEventSlim();
        try
        {
            _work.Add(() =>
            {
                try
                {
                    result = create();
                }
                catch (Exception ex)
                {
                    failure = ex;
                }
                finally
                {
                    done.Set();
                }
            });
        }
        catch (InvalidOperationException)
        {
            throw new ObjectDisposedException($"the network namespace of {Name} is closed");
        }

        done.Wait();
        return failure is null ? result! : throw failure;
    }

    private void Run(SafeFileHandle netns)
    {
        var added = false;
        try
        {
            netns.DangerousAddRef(ref added);
            if (setns(netns.DangerousGetHandle().ToInt32(), CloneNewNet) != 0)
            {
                _entered.SetException(new IOException($"setns into the network namespace of {Name} failed: errno {Marshal.GetLastPInvokeError()}"));
                return;
            }
        }
        finally
        {
            if (added)
            {
                netns.DangerousRelease();
            }
        }

        _entered.SetResult();
        foreach (var work in _work.GetConsumingEnumerable())
        {
            work();
        }
    }

    public void Dispose()
    {
        _work.CompleteAdding();
        _thread.Join(TimeSpan.FromSeconds(5));
        _work.Dispose();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
}
