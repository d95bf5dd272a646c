namespace Hbone.Ztunnel.State;

/// <summary>How a workload accepts traffic.</summary>
public enum WorkloadProtocol
{
    /// <summary>In the mesh: HBONE on port 15008.</summary>
    Hbone,

    /// <summary>Not in the mesh: plain TCP to the workload's port.</summary>
    Tcp,
}
