namespace Hbone.Identity;

/// <summary>Thrown when a string is not a valid SPIFFE ID; <see cref="HboneException.Reason"/> is <see cref="HboneErrorReason.InvalidSpiffeId"/>.</summary>
public sealed class SpiffeIdException : HboneException
{
    /// <summary>Creates an exception for <paramref name="error"/>.</summary>
    public SpiffeIdException(SpiffeIdError error, string message)
        : base(HboneErrorReason.InvalidSpiffeId, message)
    {
        Error = error;
    }

    /// <summary>The rule the value broke.</summary>
    public SpiffeIdError Error { get; }
}
