using System.Collections.Concurrent;
using Hbone.Ztunnel.Zds;
using Microsoft.Win32.SafeHandles;

namespace Hbone.Ztunnel.Cni.Tests.Zds;

/// <summary>A ztunnel-side ZDS handler that records what it was told, and lets a test wait (with a deadline) for a state.</summary>
internal sealed class RecordingHandler : IZdsWorkloadHandler
{
    private int _snapshots;

    /// <summary>Added pods: uid → service account.</summary>
    public ConcurrentDictionary<string, string> Added { get; } = new();

    /// <summary>Added pods: uid → the workload info as received.</summary>
    public ConcurrentDictionary<string, WorkloadInfo> Infos { get; } = new();

    public ConcurrentBag<string> Deleted { get; } = [];

    public string[] Present { get; private set; } = [];

    public bool SnapshotCompleted => Snapshots > 0;

    /// <summary>Snapshots completed so far (one per connection).</summary>
    public int Snapshots => Volatile.Read(ref _snapshots);

    public bool FailAdds { get; init; }

    public string? OnAdd(string uid, WorkloadInfo info, SafeFileHandle netns)
    {
        netns.Dispose();
        if (FailAdds)
        {
            return $"cannot set up {uid}";
        }

        Infos[uid] = info;
        Added[uid] = info.ServiceAccount;
        return null;
    }

    public void OnKeep(string uid)
    {
    }

    public void OnDelete(string uid) => Deleted.Add(uid);

    public void OnSnapshotComplete(IReadOnlySet<string> present)
    {
        Present = [.. present.Order(StringComparer.Ordinal)];
        Interlocked.Increment(ref _snapshots);
    }

    public static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string what = "condition")
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what} not reached within {timeout}");
            }

            await Task.Delay(20);
        }
    }
}
