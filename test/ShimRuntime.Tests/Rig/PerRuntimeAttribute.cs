using NUnit.Framework;

namespace Csshim.Tests.Rig;

/// <summary>One instance of the fixture per runtime under test (runc, runsc 2022, runsc 2024), each taking the
/// runtime's name as its constructor argument.</summary>
public sealed class PerRuntimeAttribute() : TestFixtureSourceAttribute(typeof(RuntimeUnderTest), nameof(RuntimeUnderTest.Names));
