using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Kraft.Storage.Tests")]
[assembly: InternalsVisibleTo("Kraft.Benchmarks")]
