namespace Hbone.Ztunnel.Cni.Kubernetes;

/// <summary>What the agent should do with one pod of its node.</summary>
internal enum PodVerdict
{
    /// <summary>In the mesh: enroll it (or keep it enrolled).</summary>
    Enroll,

    /// <summary>Should be in the mesh but has no IP yet: wait for the next update (its namespace cannot be verified without one).</summary>
    AwaitAddress,

    /// <summary>Not in the mesh (no ambient label, opted out, host network, sidecar, excluded namespace, the ztunnel itself): un-enroll it if it was, rules removed.</summary>
    NotEligible,

    /// <summary>Finished (Succeeded or Failed): forget it as if deleted, rules left (its namespace is going away).</summary>
    Terminal,
}
