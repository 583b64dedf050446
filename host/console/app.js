// The Regent console: a page that calls Regent's HTTP API with the
// signed-in person's session cookie (see docs/console.md).
'use strict';
