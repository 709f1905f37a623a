/** The API's root module under the name the tests and older callers use (see ApiModule, WorkerModule). */
export { ApiModule as AppModule, type AppModuleOptions } from './api.module';
