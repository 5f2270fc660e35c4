using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Kraft.Quorum.Tests")]
[assembly: InternalsVisibleTo("Kraft.Simulation")]
