namespace Hbone.Protocol;

/// <summary>Why an HBONE <c>:authority</c> was rejected by <see cref="HboneAuthority.TryParse"/>.</summary>
public enum AuthorityError
{
    /// <summary>The authority is valid.</summary>
    None,
    /// <summary>The value is empty.</summary>
    Empty,
    /// <summary>No <c>:port</c> follows the host, or nothing follows the colon.</summary>
    MissingPort,
    /// <summary>The port is 0, above 65535, longer than 5 digits, has a leading zero, or contains a non-digit.</summary>
    InvalidPort,
    /// <summary>An IPv6 address appears without the required brackets (<c>fd00::1:80</c>).</summary>
    BracketlessIPv6,
    /// <summary>The value contains <c>@</c> (userinfo is never valid in a CONNECT authority).</summary>
    UserInfo,
    /// <summary>The host name is longer than 253 characters.</summary>
    HostTooLong,
    /// <summary>The host is neither a dotted-quad IPv4 address nor a DNS name.</summary>
    InvalidHost,
    /// <summary>The bracketed text is not an IPv6 address, carries a zone id, or the brackets are unbalanced.</summary>
    InvalidIPv6,
}
