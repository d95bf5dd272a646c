namespace Hbone.Ztunnel.State;

/// <summary>The outcome of one reload of the local config file.</summary>
/// <param name="snapshot">The snapshot now in force, when the reload applied.</param>
/// <param name="error">Why the reload was rejected (the last good snapshot stays), when it was.</param>
public sealed class ConfigChangedEventArgs(WorkloadSnapshot? snapshot, Exception? error) : EventArgs
{
    /// <summary>The snapshot now in force, when the reload applied.</summary>
    public WorkloadSnapshot? Snapshot { get; } = snapshot;

    /// <summary>Why the reload was rejected, when it was.</summary>
    public Exception? Error { get; } = error;

    /// <summary>Whether the new config is in force.</summary>
    public bool Applied => Error is null;
}
