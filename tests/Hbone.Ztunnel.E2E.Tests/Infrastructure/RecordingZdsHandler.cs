using System.Collections.Concurrent;
using Hbone.Ztunnel.Zds;
using Microsoft.Win32.SafeHandles;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>A ZDS handler that plays the ztunnel's part for tests of the node agent: it records what it is handed and acks it.</summary>
internal sealed class RecordingZdsHandler : IZdsWorkloadHandler, IDisposable
{
    private readonly ConcurrentDictionary<string, (WorkloadInfo Info, string NetnsInode)> _added = new();
    private readonly ConcurrentQueue<string> _deleted = new();
    private readonly SemaphoreSlim _changed = new(0);

    /// <summary>The pods added, by uid: their info and the namespace inode of the fd (<c>net:[N]</c>).</summary>
    public IReadOnlyDictionary<string, (WorkloadInfo Info, string NetnsInode)> Added => _added;

    /// <summary>The uids deleted, in order.</summary>
    public IReadOnlyList<string> Deleted => [.. _deleted];

    public string? OnAdd(string uid, WorkloadInfo info, SafeFileHandle netns)
    {
        using (netns)
        {
            _added[uid] = (info, FdTarget(netns.DangerousGetHandle()));
        }

        _changed.Release();
        return null;
    }

    public void OnKeep(string uid)
    {
    }

    public void OnDelete(string uid)
    {
        _deleted.Enqueue(uid);
        _changed.Release();
    }

    public void OnSnapshotComplete(IReadOnlySet<string> present) => _changed.Release();

    /// <summary>Waits until <paramref name="condition"/> holds.</summary>
    /// <exception cref="TimeoutException">It did not within the deadline.</exception>
    public async Task WaitForAsync(Func<RecordingZdsHandler, bool> condition, TimeSpan deadline, string what)
    {
        using var timeout = new CancellationTokenSource(deadline);
        while (!condition(this))
        {
            try
            {
                await _changed.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"ZDS: {what} did not happen within {deadline} (added: {string.Join(", ", _added.Keys)}; deleted: {string.Join(", ", _deleted)})");
            }
        }
    }

    /// <summary>The <c>net:[inode]</c> of a namespace file (a bind mount such as /var/run/netns/NAME): read through an open fd.</summary>
    public static string NetnsInodeOf(string path)
    {
        using var handle = File.OpenHandle(path);
        return FdTarget(handle.DangerousGetHandle());
    }

    private static string FdTarget(nint fd) =>
        new FileInfo($"/proc/self/fd/{fd}").LinkTarget ?? throw new IOException($"fd {fd} is not a namespace");

    public void Dispose() => _changed.Dispose();
}
