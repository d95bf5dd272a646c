namespace Hbone.Istio;

/// <summary>A failure talking to the Istio control plane (CA or xDS); <see cref="Reason"/> says which.</summary>
public sealed class IstioException : Exception
{
    /// <summary>Creates the exception.</summary>
    public IstioException(IstioErrorReason reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    /// <summary>Why it failed.</summary>
    public IstioErrorReason Reason { get; }
}
