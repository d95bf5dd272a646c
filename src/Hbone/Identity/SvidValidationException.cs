namespace Hbone.Identity;

/// <summary>Thrown when a certificate is not an acceptable X.509-SVID; <see cref="HboneException.Reason"/> is <see cref="HboneErrorReason.InvalidSvid"/>.</summary>
public sealed class SvidValidationException : HboneException
{
    /// <summary>Creates an exception for <paramref name="error"/>; the message should name the reason.</summary>
    public SvidValidationException(SvidValidationError error, string message, Exception? innerException = null)
        : base(HboneErrorReason.InvalidSvid, message, innerException)
    {
        Error = error;
    }

    /// <summary>The rule the certificate broke.</summary>
    public SvidValidationError Error { get; }
}
