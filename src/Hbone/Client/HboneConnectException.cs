namespace Hbone.Client;

/// <summary>The server answered the CONNECT with a status other than 200; no tunnel was opened.</summary>
public sealed class HboneConnectException : HboneException
{
    /// <summary>Creates the exception for <paramref name="statusCode"/>.</summary>
    public HboneConnectException(int statusCode, string authority)
        : base(HboneErrorReason.ConnectRefused, $"The HBONE server answered {statusCode} to CONNECT {authority}.")
    {
        ResponseStatus = statusCode;
    }

    /// <summary>The status the server answered (400, 401, 503, ...).</summary>
    public int ResponseStatus { get; }
}
