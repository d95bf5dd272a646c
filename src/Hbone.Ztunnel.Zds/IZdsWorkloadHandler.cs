using Microsoft.Win32.SafeHandles;

namespace Hbone.Ztunnel.Zds;

/// <summary>What the ztunnel does with the pods ZDS hands over.</summary>
public interface IZdsWorkloadHandler
{
    /// <summary>A pod to serve, with its network namespace (now owned by the handler). Returns an error text, or null.</summary>
    string? OnAdd(string uid, WorkloadInfo info, SafeFileHandle netns);

    /// <summary>A pod to keep, sent instead of an add before the snapshot completes.</summary>
    void OnKeep(string uid);

    /// <summary>A pod to drain and forget.</summary>
    void OnDelete(string uid);

    /// <summary>The snapshot is complete: pods not in <paramref name="present"/> are gone and must be removed.</summary>
    void OnSnapshotComplete(IReadOnlySet<string> present);
}
