namespace Hbone.Istio.Xds;

/// <summary>Where the client's stream is.</summary>
public enum XdsConnectionState
{
    /// <summary>Not started, or disposed.</summary>
    Stopped,
    /// <summary>A stream is being opened, or is open with no response yet.</summary>
    Connecting,
    /// <summary>The stream has had at least one response.</summary>
    Connected,
    /// <summary>The last stream failed; waiting for the backoff before the next attempt. The last state is kept.</summary>
    Backoff,
}

/// <summary>Counters of a <see cref="DeltaXdsClient"/>, for <c>/config_dump</c> and tests.</summary>
/// <param name="Attempts">Streams the client tried to open (including those that failed before a call, e.g. no token).</param>
/// <param name="Connects">Streams that got at least one response.</param>
/// <param name="Responses">Responses received.</param>
/// <param name="Acks">ACKs sent.</param>
/// <param name="Nacks">NACKs sent.</param>
/// <param name="Failures">Streams that ended, for any reason, before the client was stopped.</param>
public readonly record struct XdsClientStatistics(long Attempts, long Connects, long Responses, long Acks, long Nacks, long Failures);
