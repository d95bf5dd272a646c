namespace Hbone.Ztunnel.Cni.Agent;

/// <summary>
/// Where the node agent learns which pods to hand the ztunnel: the pods directory on one machine, the Kubernetes API
/// in a cluster. The agent diffs <see cref="Current"/> against what it sent and sends the difference over ZDS.
/// </summary>
internal interface IPodSource : IAsyncDisposable
{
    /// <summary>Where the pods come from, for the agent's start line.</summary>
    string Description { get; }

    /// <summary>Completes once the source knows the whole set; the agent serves ZDS only then (an early empty snapshot would remove every pod).</summary>
    Task Synced { get; }

    /// <summary>Starts following changes; <paramref name="changed"/> is called, from any thread, whenever <see cref="Current"/> may differ.</summary>
    void Start(Action changed);

    /// <summary>The pods to hand the ztunnel now, each ready to use (its namespace path openable, its rules in place).</summary>
    IReadOnlyCollection<PodRecord> Current();
}
