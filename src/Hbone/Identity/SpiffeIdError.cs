namespace Hbone.Identity;

/// <summary>Why a string is not a valid SPIFFE ID (SPIFFE ID specification, section 2).</summary>
public enum SpiffeIdError
{
    /// <summary>The ID is valid.</summary>
    None,
    /// <summary>The value is null or empty.</summary>
    Empty,
    /// <summary>The ID is longer than 2048 bytes.</summary>
    TooLong,
    /// <summary>The value does not start with the lowercase scheme <c>spiffe://</c>.</summary>
    WrongScheme,
    /// <summary>The trust domain is empty.</summary>
    MissingTrustDomain,
    /// <summary>The trust domain is longer than 255 bytes.</summary>
    TrustDomainTooLong,
    /// <summary>The trust domain has a character outside <c>[a-z0-9.-_]</c> (uppercase included).</summary>
    InvalidTrustDomainCharacter,
    /// <summary>The path has an empty segment (<c>//</c>).</summary>
    EmptySegment,
    /// <summary>The path has a <c>.</c> or <c>..</c> segment.</summary>
    DotSegment,
    /// <summary>The path ends with <c>/</c>.</summary>
    TrailingSlash,
    /// <summary>A path segment has a character outside <c>[A-Za-z0-9.-_]</c>.</summary>
    InvalidPathCharacter,
    /// <summary>The trust domain carries a port (<c>td:8080</c>).</summary>
    PortNotAllowed,
    /// <summary>The trust domain carries user information (<c>user@td</c>).</summary>
    UserInfoNotAllowed,
    /// <summary>The ID has a query (<c>?</c>) or a fragment (<c>#</c>).</summary>
    QueryOrFragmentNotAllowed,
    /// <summary>The path has percent-encoding (<c>%41</c>), which SPIFFE IDs forbid.</summary>
    PercentEncodingNotAllowed,
    /// <summary>An Istio namespace or service account is empty or contains <c>/</c>.</summary>
    InvalidIstioComponent,
}
