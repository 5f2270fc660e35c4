using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Kraft.Protocol.Tests")]
