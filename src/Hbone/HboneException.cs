namespace Hbone;

/// <summary>The one exception type HBONE code throws for protocol, identity and tunnel failures.</summary>
public class HboneException : Exception
{
    /// <summary>Creates an exception for <paramref name="reason"/>.</summary>
    public HboneException(HboneErrorReason reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    /// <summary>Why the operation failed.</summary>
    public HboneErrorReason Reason { get; }

    /// <summary>The CONNECT status a server answers for this failure (400, 401 or 503), or 0 when none applies.</summary>
    public int StatusCode => Reason.ToStatusCode();
}
