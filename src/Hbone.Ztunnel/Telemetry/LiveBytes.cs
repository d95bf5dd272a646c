using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Telemetry;

/// <summary>
/// The live byte counts of one open connection, read by <see cref="ConnectionReporter"/> every few seconds so
/// Istio's byte counters grow during a long connection instead of jumping at its close.
/// </summary>
internal sealed class LiveBytes
{
    private Func<(long Sent, long Received)>? _probe;

    /// <param name="probe">Reads (bytes towards the destination, bytes back); null until <see cref="Attach"/>.</param>
    public LiveBytes(Func<(long Sent, long Received)>? probe = null)
    {
        _probe = probe;
    }

    /// <summary>Guards the reporter's bookkeeping, so a poll and the close never count the same bytes twice.</summary>
    internal Lock Gate { get; } = new();

    /// <summary>The series the polled bytes go to; set when the connection is counted as opened.</summary>
    internal ConnectionLabels? Labels { get; set; }

    /// <summary>Bytes towards the destination already added to the metrics.</summary>
    internal long ReportedSent { get; set; }

    /// <summary>Bytes from the destination already added to the metrics.</summary>
    internal long ReportedReceived { get; set; }

    /// <summary>True once the close added the remainder: later polls add nothing.</summary>
    internal bool Closed { get; set; }

    /// <summary>Points the counts at the connection's relay once it exists.</summary>
    public void Attach(Func<(long Sent, long Received)> probe) => Volatile.Write(ref _probe, probe);

    /// <summary>The counts now; zero before anything is attached.</summary>
    public (long Sent, long Received) Read() => Volatile.Read(ref _probe)?.Invoke() ?? (0, 0);
}
