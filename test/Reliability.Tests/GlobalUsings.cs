global using NUnit.Framework;
global using Csshim.Reliability.Tests.Support;
global using Csshim.Tests.Rig;
